/**
 * Decoding any supported image file into 8-bit RGB with sharp (libvips, runs on libuv threads).
 * Orientation from EXIF is applied, alpha is dropped (like PIL's `convert('RGB')`, which is what
 * torchvision's ImageFolder does, so the colours match what a PyTorch user would have trained on),
 * grey becomes three equal channels, and 16-bit data is mapped to 8 bit by `bitDepthRule`.
 */
import sharp from 'sharp';
import type { CreateRaw, Metadata, Sharp } from 'sharp';
import { AttuneError, isAttuneError } from '../errors';
import type { Preprocessing } from '../preprocessing';
import { probeFile, unsupportedReason } from './sniff';

/** Decompression-bomb guard: images above this many pixels are refused. */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Bands beyond RGB(A) mean multispectral data (e.g. GeoTIFF with NIR bands), which an RGB backbone cannot take. */
const MAX_BANDS = 4;

export type BitDepthRule = Preprocessing['bitDepthRule'];

/** An interleaved (HWC) 8-bit RGB image. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

sharp.cache(false); // we cache decoded pixels ourselves; libvips' operation cache would only duplicate memory

function openSharp(input: string | Buffer, raw?: CreateRaw): Sharp {
  if (raw) return sharp(input, { raw, limitInputPixels: MAX_INPUT_PIXELS });
  return sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', pages: 1, page: 0 });
}

/**
 * A sharp pipeline positioned at the oriented, alpha-free, 8-bit image, plus its size,
 * so that callers can add a resize/crop and read raw RGB.
 */
export interface Opened {
  pipeline: Sharp;
  width: number;
  height: number;
}

/** Turns decoder failures into errors a user can act on. */
export function describeDecodeError(file: string, err: unknown): AttuneError {
  if (isAttuneError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) {
    return new AttuneError('image-too-large', `${file} is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels and was refused.`,
      'Very large images are refused to protect memory (decompression-bomb guard). Downscale it or tile it into smaller images.', { file });
  }
  if (/channel limit/i.test(msg)) {
    return new AttuneError('unsupported-bands', `${file} has more bands than grey, RGB or RGBA; multispectral images are not supported.`,
      'Export three bands as RGB with a GIS tool, e.g. `gdal_translate -b 3 -b 2 -b 1 in.tif out.tif`.', { file });
  }
  if (/unsupported image format/i.test(msg)) {
    return new AttuneError('unsupported-format', `${file} is in an image format that cannot be decoded.`,
      'Convert it to PNG or JPEG.', { file });
  }
  if (/premature end|truncated|unexpected end|not enough data|Read error/i.test(msg)) {
    return new AttuneError('truncated', `${file} is cut short (truncated) and cannot be decoded completely.`,
      'Copy the file again from its source; the copy is incomplete.', { file, cause: msg });
  }
  return new AttuneError('unreadable', `${file} could not be decoded: ${msg}`, 'Open it in an image viewer; if it does not open, replace or remove it.', { file, cause: msg });
}

/** Orientation values 5–8 swap width and height. */
function orientedSize(meta: Metadata): { width: number; height: number } {
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  return meta.orientation && meta.orientation >= 5 ? { width: h, height: w } : { width: w, height: h };
}

/**
 * Opens `file` for decoding. Throws AttuneError for unsupported formats (named clearly), for images
 * that are too large, and for undecodable files.
 */
export async function openImage(file: string, bitDepthRule: BitDepthRule): Promise<Opened> {
  let meta: Metadata;
  try {
    meta = await openSharp(file).metadata();
  } catch (err) {
    // sharp's message for BMP/DICOM/empty files is generic: sniff the content to say what it is
    const probe = await probeFile(file).catch(() => undefined);
    if (probe && probe.size === 0) throw new AttuneError('empty', `${file} is empty (0 bytes).`, 'Remove it or copy it again from its source.', { file });
    const reason = probe && unsupportedReason(probe.format);
    if (reason) throw new AttuneError('unsupported-format', `${file}: ${reason}`, reason, { file, format: probe?.format });
    throw describeDecodeError(file, err);
  }
  checkMetadata(file, meta);
  if (meta.depth === 'uchar') {
    const { width, height } = orientedSize(meta);
    return { pipeline: openSharp(file).rotate().removeAlpha().toColourspace('srgb'), width, height };
  }
  // 16-bit: read the raw samples and map them ourselves, so the rule is exact and documented
  try {
    const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    const { data, info } = await openSharp(file)
      .rotate()
      .removeAlpha()
      .toColourspace(grey ? 'grey16' : 'rgb16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    const samples = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
    const mapped = mapTo8Bit(samples, bitDepthRule);
    return {
      pipeline: openSharp(Buffer.from(mapped.buffer, mapped.byteOffset, mapped.length), { width: info.width, height: info.height, channels: info.channels as 1 | 3 }).toColourspace('srgb'),
      width: info.width,
      height: info.height,
    };
  } catch (err) {
    throw describeDecodeError(file, err);
  }
}

/** Refuses what would fail later or silently give wrong pixels. */
export function checkMetadata(file: string, meta: Metadata): void {
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > MAX_INPUT_PIXELS) throw describeDecodeError(file, new Error('pixel limit'));
  if (meta.format === 'svg') {
    const reason = unsupportedReason('svg') ?? '';
    throw new AttuneError('unsupported-format', `${file}: ${reason}`, reason, { file });
  }
  if (meta.format === 'heif' && meta.compression !== 'av1') {
    const reason = unsupportedReason('heif') ?? '';
    throw new AttuneError('unsupported-format', `${file}: ${reason}`, reason, { file });
  }
  const channels = meta.channels ?? 0;
  if (channels > MAX_BANDS) {
    throw new AttuneError('unsupported-bands', `${file} has ${channels} bands; only grey, RGB and RGBA images are supported.`,
      'Multispectral images (e.g. GeoTIFF with NIR or SWIR bands) need an RGB export: pick three bands with a GIS tool such as `gdal_translate -b 3 -b 2 -b 1`.', { file, channels });
  }
  if (meta.depth !== 'uchar' && meta.depth !== 'ushort') {
    throw new AttuneError('unsupported-depth', `${file} stores ${meta.depth} samples; only 8-bit and 16-bit integer images are supported.`,
      'Convert it to 16-bit integer PNG or TIFF (rescaling the values to 0–65535) or to 8-bit.', { file, depth: meta.depth });
  }
}

/**
 * 16-bit → 8-bit. `full-range`: v/257 (0 → 0, 65535 → 255, exact for 8-bit data stored as 16-bit);
 * `percentile-0.5-99.5`: per-image window between the 0.5th and 99.5th percentiles of all samples,
 * for scanners that use a few thousand of the 65536 levels (X-ray, CT, satellite DNs).
 */
export function mapTo8Bit(samples: Uint16Array, rule: BitDepthRule): Uint8Array {
  const out = new Uint8Array(samples.length);
  if (rule === 'full-range') {
    for (let i = 0; i < samples.length; i++) out[i] = Math.round(samples[i] / 257);
    return out;
  }
  const [lo, hi] = percentileWindow(samples, 0.005, 0.995);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < samples.length; i++) {
    const v = (samples[i] - lo) * scale;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/** Percentiles of 16-bit samples by a 65536-bin histogram (linear time, no sort). */
export function percentileWindow(samples: Uint16Array, pLo: number, pHi: number): [number, number] {
  const hist = new Uint32Array(65536);
  for (let i = 0; i < samples.length; i++) hist[samples[i]]++;
  const n = samples.length;
  const kLo = Math.floor(pLo * (n - 1));
  const kHi = Math.ceil(pHi * (n - 1));
  let lo = 0;
  let hi = 65535;
  let seen = 0;
  let foundLo = false;
  for (let v = 0; v < 65536; v++) {
    seen += hist[v];
    if (!foundLo && seen > kLo) {
      lo = v;
      foundLo = true;
    }
    if (seen > kHi) {
      hi = v;
      break;
    }
  }
  return [lo, hi];
}

/** Reads a pipeline as raw interleaved RGB. */
export async function toRgb(pipeline: Sharp, file: string): Promise<RgbImage> {
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw describeDecodeError(file, err);
  }
}
