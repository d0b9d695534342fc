/** Stored sample values of one frame, whatever the transfer syntax: the integers the modality wrote. */
import type { Element } from './dataset';
import * as codecs from './codecs';
import type { DicomHeader } from './header';
import { decodeRle } from './rle';
import type { PixelEncoding } from './syntax';

export interface Samples {
  /** interleaved per pixel; signed values already sign-extended */
  values: Float64Array;
  /** samples per pixel as stored (2 for native 4:2:2 pixel pairs is still counted 3: see colour.ts) */
  components: number;
  /** true when the codec already turned YBR into RGB (JPEG via libjpeg, JPEG 2000 YBR_ICT/RCT) */
  rgbFromCodec: boolean;
  /** wavelet levels a reduced JPEG 2000 decode skipped: the frame is ⌈columns / 2^level⌉ × ⌈rows / 2^level⌉ */
  level?: number;
}

/** The size of a frame decoded `level` wavelet levels short of full resolution. */
export function reducedSize(h: DicomHeader, level = 0): { width: number; height: number } {
  return { width: Math.ceil(h.columns / 2 ** level), height: Math.ceil(h.rows / 2 ** level) };
}

/**
 * How many wavelet levels to skip so that the shorter side stays at least `minSide`: the largest k with
 * min(rows, columns) / 2^k ≥ minSide and k ≤ the codestream's levels (0 without `minSide`).
 */
export function reductionLevel(h: DicomHeader, codestreamLevels: number | undefined, minSide?: number): number {
  if (!codestreamLevels || !(minSide !== undefined && minSide > 0 && Number.isFinite(minSide))) return 0;
  let k = 0;
  while (k < codestreamLevels && Math.min(h.rows, h.columns) / 2 ** (k + 1) >= minSide) k++;
  return k;
}

/** Reads unsigned little- or big-endian integers of `bytes` bytes each. */
function readUnsigned(data: Uint8Array, bytes: number, bigEndian: boolean, swap8InWords: boolean): Float64Array {
  const n = Math.floor(data.length / bytes);
  const out = new Float64Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (bytes === 1) {
    // 8-bit data in an OW element of a big-endian file is byte-swapped within each 16-bit word.
    if (swap8InWords) for (let i = 0; i < n; i++) out[i] = data[i ^ 1] ?? 0;
    else for (let i = 0; i < n; i++) out[i] = data[i]!;
  } else if (bytes === 2 && !bigEndian && data.byteOffset % 2 === 0) {
    out.set(new Uint16Array(data.buffer, data.byteOffset, n)); // the common case, without per-sample calls
  } else if (bytes === 2) {
    for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, !bigEndian);
  } else if (bytes === 4) {
    for (let i = 0; i < n; i++) out[i] = view.getUint32(4 * i, !bigEndian);
  } else {
    throw new Error(`${bytes * 8}-bit samples are not supported`);
  }
  return out;
}

/** Keeps the low `bits` bits (high bits may carry overlays) and sign-extends them when the pixels are signed. */
export function storedValues(values: Float64Array, bits: number, signed: boolean): void {
  const range = 2 ** bits;
  const half = range / 2;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]! % range;
    if (signed && v >= half) v -= range;
    values[i] = v;
  }
}

function planarToInterleaved(values: Float64Array, components: number): Float64Array {
  const pixels = values.length / components;
  const out = new Float64Array(values.length);
  for (let c = 0; c < components; c++) {
    for (let p = 0; p < pixels; p++) out[p * components + c] = values[c * pixels + p]!;
  }
  return out;
}

const isYbr422 = (h: DicomHeader): boolean => h.photometric === 'YBR_FULL_422' || h.photometric === 'YBR_PARTIAL_422';

export function nativeSamples(data: Uint8Array, h: DicomHeader, bigEndian: boolean, el: Element): Samples {
  const bytes = h.bitsAllocated / 8;
  let values = readUnsigned(data, bytes, bigEndian, bigEndian && bytes === 1 && el.vr === 'OW');
  storedValues(values, h.bitsStored, h.pixelRepresentation === 1);
  if (h.samplesPerPixel > 1 && h.planarConfiguration === 1 && !isYbr422(h)) {
    values = planarToInterleaved(values, h.samplesPerPixel);
  }
  return { values, components: h.samplesPerPixel, rgbFromCodec: false };
}

function fromCodec(
  f: codecs.DecodedFrame,
  h: DicomHeader,
  rgbFromCodec: boolean,
  codecKnowsSign: boolean,
  level = 0,
): Samples {
  // A damaged codestream can "decode" to nonsense rather than fail: hold it to the header.
  const want = reducedSize(h, level);
  if (f.width !== want.width || f.height !== want.height || f.components < 1) {
    throw new Error(`it decodes to ${f.width}×${f.height}×${f.components}, not ${want.width}×${want.height}`);
  }
  const bytes = f.bitsPerSample > 8 ? 2 : 1;
  const values = readUnsigned(f.bytes, bytes, false, false);
  if (codecKnowsSign && f.signed) {
    // The codec gives two's complement at its own width.
    const range = 2 ** (8 * bytes);
    for (let i = 0; i < values.length; i++) if (values[i]! >= range / 2) values[i]! -= range;
  } else if (codecKnowsSign) {
    // Unsigned codestream in a signed image (a common encoder quirk): reinterpret at BitsStored, never mask, so a
    // lossy overshoot above the stored range is kept rather than wrapped.
    if (h.pixelRepresentation === 1) {
      const range = 2 ** h.bitsStored;
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v >= range / 2 && v < range) values[i] = v - range;
      }
    }
  } else {
    storedValues(values, Math.min(h.bitsStored, 8 * bytes), h.pixelRepresentation === 1);
  }
  return { values, components: f.components, rgbFromCodec, ...(level > 0 ? { level } : {}) };
}

/** JPEG 2000 inverts its own colour transform (YBR_ICT/RCT); YBR_FULL stored in it stays YBR for colour.ts. */
const j2kColourTransform = (h: DicomHeader): boolean => h.photometric === 'YBR_ICT' || h.photometric === 'YBR_RCT';

/**
 * A JPEG 2000 / HTJ2K frame, `minSide` permitting at reduced resolution (see reductionLevel). A codestream whose
 * components do not all have that many levels makes the codec fail; then the frame decodes at full resolution.
 */
async function waveletSamples(
  decode: (data: Uint8Array, level?: number) => Promise<codecs.DecodedFrame>,
  data: Uint8Array,
  h: DicomHeader,
  minSide?: number,
): Promise<Samples> {
  const level = reductionLevel(h, codecs.j2kDecompositionLevels(data), minSide);
  if (level > 0) {
    try {
      return fromCodec(await decode(data, level), h, j2kColourTransform(h), true, level);
    } catch {
      /* full resolution below, whose errors are the ones worth reporting */
    }
  }
  return fromCodec(await decode(data), h, j2kColourTransform(h), true);
}

/**
 * Decodes one frame's bytes (native slice or compressed stream) to stored values. `minSide`: the shorter side the
 * caller needs at least; JPEG 2000 and HTJ2K frames then decode only as many wavelet levels as that takes.
 */
export async function frameSamples(
  encoding: PixelEncoding,
  data: Uint8Array,
  h: DicomHeader,
  el: Element,
  minSide?: number,
): Promise<Samples> {
  const pixels = h.rows * h.columns;
  switch (encoding) {
    case 'native':
    case 'deflate':
      return nativeSamples(data, h, false, el);
    case 'native-big':
      return nativeSamples(data, h, true, el);
    case 'rle': {
      const values = decodeRle(data, pixels, h.samplesPerPixel, h.bitsAllocated / 8);
      storedValues(values, h.bitsStored, h.pixelRepresentation === 1);
      return { values, components: h.samplesPerPixel, rgbFromCodec: false };
    }
    case 'jpeg-lossless': {
      const raw = codecs.decodeJpegLossless(data, h.bitsAllocated <= 8 ? 1 : 2);
      const values = readUnsigned(raw, h.bitsAllocated <= 8 ? 1 : 2, false, false);
      storedValues(values, h.bitsStored, h.pixelRepresentation === 1);
      return { values, components: h.samplesPerPixel, rgbFromCodec: false };
    }
    case 'jpeg-ls':
      return fromCodec(await codecs.decodeJpegLs(data), h, false, false);
    case 'jpeg-baseline':
      return fromCodec(await codecs.decodeJpegBaseline8(data), h, true, false);
    case 'jpeg-extended':
      return fromCodec(await codecs.decodeJpegExtended(data), h, true, false);
    case 'jpeg2000':
      return waveletSamples(codecs.decodeJpeg2000, data, h, minSide);
    case 'htj2k':
      return waveletSamples(codecs.decodeHtj2k, data, h, minSide);
    default:
      throw new Error(`no decoder for ${encoding}`);
  }
}
