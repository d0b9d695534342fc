/**
 * Compressed-frame decoders: thin wrappers over maintained codec builds (Cornerstone's WASM codecs,
 * jpeg-lossless-decoder-js, and dicom-image-loader's 12-bit JPEG decoder). Each codec loads once, lazily.
 *
 * The WASM packages are CommonJS Emscripten builds. We load them with createRequire (so a bundler leaves them
 * alone) and hand them the .wasm bytes read from the installed package, so they never fetch or guess a path:
 * this works the same under tsx, plain Node ESM and Electron's utility process.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Decoder as LosslessJpegDecoder } from '@cornerstonejs/jpeg-lossless-decoder-js';
import JpegImage from './vendor/jpeg12.js';

// not named `require`: electron-vite's ESM output declares its own top-level `require` shim
const requireCodec = createRequire(import.meta.url);

/** The stored samples of one frame, interleaved (pixel by pixel, sample by sample). */
export interface DecodedFrame {
  width: number;
  height: number;
  components: number;
  bitsPerSample: number;
  signed: boolean;
  /** little-endian sample bytes as the codec gives them: 1 byte per sample when bits ≤ 8, else 2 */
  bytes: Uint8Array;
}

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  decode(): void;
  decodeSubResolution(level: number, layer: number): void;
  delete?(): void;
}
type DecoderModule = Record<string, new () => WasmDecoder>;
type Factory = (opts: {
  wasmBinary: Uint8Array;
  print?: (s: string) => void;
  printErr?: (s: string) => void;
}) => Promise<DecoderModule>;

/** Loads an Emscripten module from `pkg`'s exported JS/WASM entry points. */
async function loadWasm(pkg: string, jsEntry: string, wasmEntry: string): Promise<DecoderModule> {
  const mod = requireCodec(`${pkg}/${jsEntry}`) as Factory | { default: Factory };
  const factory = typeof mod === 'function' ? mod : mod.default;
  const wasmBinary = readFileSync(requireCodec.resolve(`${pkg}/${wasmEntry}`));
  // The codecs print diagnostics to stdout; keep them out of CLI output.
  return factory({ wasmBinary, print: () => {}, printErr: () => {} });
}

const modules = new Map<string, Promise<DecoderModule>>();
function cached(key: string, load: () => Promise<DecoderModule>): Promise<DecoderModule> {
  let m = modules.get(key);
  if (!m) {
    m = load();
    modules.set(key, m);
    m.catch(() => modules.delete(key));
  }
  return m;
}

/**
 * Decodes `data`; JPEG 2000 codecs can stop `level` wavelet levels early (level 0 = full resolution), which gives
 * the image's low-pass band at ⌈width / 2^level⌉ × ⌈height / 2^level⌉ for a fraction of the work.
 */
async function runWasm(mod: DecoderModule, className: string, data: Uint8Array, level = 0): Promise<DecodedFrame> {
  const decoder = new mod[className]!();
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    if (level > 0)
      decoder.decodeSubResolution(level, 0); // layer 0: all quality layers
    else decoder.decode();
    const info = decoder.getFrameInfo();
    // Copy out: the view points into WASM memory, which the next decode reuses.
    const bytes = decoder.getDecodedBuffer().slice();
    // getFrameInfo reports the full size even after a reduced decode (the codecs' README says so).
    const scale = 2 ** level;
    return {
      width: Math.ceil(info.width / scale),
      height: Math.ceil(info.height / scale),
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      signed: info.isSigned ?? false,
      bytes,
    };
  } finally {
    decoder.delete?.();
  }
}

/**
 * Wavelet decomposition levels of a JPEG 2000 / HTJ2K codestream: SPcod's first byte in the main header's COD
 * marker (ITU-T T.800 A.6.1). Undefined when there is no COD before the first tile (or the data is not a bare
 * codestream): callers then decode at full resolution. A COC may give one component fewer levels; the decoder
 * then fails and the caller falls back to full resolution.
 */
export function j2kDecompositionLevels(data: Uint8Array): number | undefined {
  if (data[0] !== 0xff || data[1] !== 0x4f) return undefined; // SOC
  let i = 2;
  while (i + 4 <= data.length && data[i] === 0xff) {
    const marker = data[i + 1]!;
    if (marker === 0x90 || marker === 0x93) return undefined; // SOT / SOD: the main header ended without COD
    const length = (data[i + 2]! << 8) | data[i + 3]!;
    if (marker === 0x52) return i + 9 < data.length ? data[i + 9] : undefined; // FF52 Lcod Scod SGcod(4) SPcod
    i += 2 + length;
  }
  return undefined;
}

/** `level`: wavelet levels to skip (see runWasm); at most j2kDecompositionLevels(data). */
export async function decodeJpeg2000(data: Uint8Array, level = 0): Promise<DecodedFrame> {
  const mod = await cached('openjpeg', () => loadWasm('@cornerstonejs/codec-openjpeg', 'decodewasmjs', 'decodewasm'));
  return runWasm(mod, 'J2KDecoder', data, level);
}

export async function decodeHtj2k(data: Uint8Array, level = 0): Promise<DecodedFrame> {
  const mod = await cached('openjph', () => loadWasm('@cornerstonejs/codec-openjph', 'wasmjs', 'wasm'));
  return runWasm(mod, 'HTJ2KDecoder', data, level);
}

export async function decodeJpegLs(data: Uint8Array): Promise<DecodedFrame> {
  const mod = await cached('charls', () => loadWasm('@cornerstonejs/codec-charls', 'decodewasmjs', 'decodewasm'));
  return runWasm(mod, 'JpegLSDecoder', data);
}

/** 8-bit JPEG baseline (libjpeg-turbo). Colour frames come back as RGB: libjpeg converts YCbCr itself. */
export async function decodeJpegBaseline8(data: Uint8Array): Promise<DecodedFrame> {
  const mod = await cached('libjpeg-turbo', () =>
    loadWasm('@cornerstonejs/codec-libjpeg-turbo-8bit', 'decodewasmjs', 'decodewasm'),
  );
  return runWasm(mod, 'JPEGDecoder', data);
}

/** Sample precision from a JPEG stream's start-of-frame marker (SOF0..SOF15 except DHT/JPG/DAC). */
export function jpegPrecision(data: Uint8Array): number | undefined {
  let i = 2; // after SOI
  while (i + 4 < data.length) {
    if (data[i] !== 0xff) return undefined;
    const marker = data[i + 1]!;
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return data[i + 4];
    i += 2 + ((data[i + 2]! << 8) | data[i + 3]!);
  }
  return undefined;
}

/** JPEG extended (process 2/4): 12-bit frames through dicom-image-loader's decoder, 8-bit through libjpeg-turbo. */
export async function decodeJpegExtended(data: Uint8Array): Promise<DecodedFrame> {
  const precision = jpegPrecision(data) ?? 8;
  if (precision <= 8) return decodeJpegBaseline8(data);
  const jpeg = new JpegImage();
  jpeg.parse(data);
  jpeg.colorTransform = false;
  if (jpeg.components.length !== 1) throw new Error('12-bit JPEG with more than one component');
  const out = jpeg.getData16(jpeg.width, jpeg.height);
  return {
    width: jpeg.width,
    height: jpeg.height,
    components: 1,
    bitsPerSample: precision,
    signed: false,
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
  };
}

/** JPEG lossless, process 14 (any predictor, incl. selection value 1). */
export function decodeJpegLossless(data: Uint8Array, bytesPerSample: 1 | 2): Uint8Array {
  const decoder = new LosslessJpegDecoder();
  const out = decoder.decode(data.buffer as ArrayBuffer, data.byteOffset, data.length, bytesPerSample);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
