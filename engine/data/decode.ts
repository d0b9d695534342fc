/**
 * The sharp (libvips) decoder family: JPEG, PNG, WebP, GIF, AVIF and TIFF of up to four bands.
 * 8-bit images stay 8-bit RGB (the fast path: libvips resizes them on native threads); orientation
 * from EXIF is applied, alpha is dropped (like PIL's `convert('RGB')`, which torchvision's ImageFolder
 * uses, so colours match what a PyTorch user trained on) and grey becomes three equal channels.
 * 16-bit images are read at full precision as float samples for the value mapping (values.ts).
 */
import sharp from 'sharp';
import type { CreateRaw, Metadata, Sharp } from 'sharp';
import { AttuneError, isAttuneError } from '../errors';
import type { FloatImage, RgbImage } from './pixels';
import { probeFile, unsupportedReason } from './sniff';

export type { RgbImage } from './pixels';

/** Decompression-bomb guard: images above this many pixels are refused. */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Bands beyond RGB(A) mean multispectral data (e.g. GeoTIFF with NIR bands), which an RGB backbone cannot take. */
const MAX_BANDS = 4;

/**
 * A TIFF that is a multispectral raster rather than a picture, read by the GeoTIFF reader with a band choice: more
 * bands than RGBA, or three or four bands that libvips sees as grey plus extra bands (blue, green, red, near-infrared
 * as satellites store them), not as RGB(A) or CMYK. Grey with one alpha band stays a picture.
 */
export function isMultispectralTiff(meta: Pick<Metadata, 'channels' | 'space'>): boolean {
  const channels = meta.channels ?? 0;
  return channels > MAX_BANDS || (channels >= 3 && ['b-w', 'grey16', 'multiband'].includes(meta.space ?? ''));
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
    return new AttuneError(
      'image-too-large',
      `${file} is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels and was refused.`,
      'Very large images are refused to protect memory (decompression-bomb guard). Downscale it or tile it into smaller images.',
      { file },
    );
  }
  if (/channel limit/i.test(msg)) {
    return new AttuneError(
      'unsupported-bands',
      `${file} has more bands than grey, RGB or RGBA (a multispectral image).`,
      'Choose how its bands are used on the Data screen (attune: --bands 4,3,2 for three bands as RGB, 1-based, or --bands all for every band as an input channel).',
      { file },
    );
  }
  if (/unsupported image format/i.test(msg)) {
    return new AttuneError(
      'unsupported-format',
      `${file} is in an image format that cannot be decoded.`,
      'Convert it to PNG or JPEG.',
      { file },
    );
  }
  if (/premature end|truncated|unexpected end|not enough data|Read error/i.test(msg)) {
    return new AttuneError(
      'truncated',
      `${file} is cut short (truncated) and cannot be decoded completely.`,
      'Copy the file again from its source; the copy is incomplete.',
      { file, cause: msg },
    );
  }
  return new AttuneError(
    'unreadable',
    `${file} could not be decoded: ${msg}`,
    'Open it in an image viewer; if it does not open, replace or remove it.',
    { file, cause: msg },
  );
}

/** Orientation values 5–8 swap width and height. */
function orientedSize(meta: Metadata): { width: number; height: number } {
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  return meta.orientation && meta.orientation >= 5 ? { width: h, height: w } : { width: w, height: h };
}

/** A file opened by sharp: an 8-bit pipeline, or the float samples of a 16-bit image. */
export type SharpOpened = { kind: 'rgb8'; opened: Opened } | { kind: 'float'; image: FloatImage };

/**
 * Opens `file` for decoding. Throws AttuneError for unsupported formats (named clearly), for images
 * that are too large, and for undecodable files.
 */
export async function openImage(file: string): Promise<SharpOpened> {
  let meta: Metadata;
  try {
    meta = await openSharp(file).metadata();
  } catch (err) {
    // sharp's message for BMP/DICOM/empty files is generic: sniff the content to say what it is
    const probe = await probeFile(file).catch(() => undefined);
    if (probe && probe.size === 0)
      throw new AttuneError('empty', `${file} is empty (0 bytes).`, 'Remove it or copy it again from its source.', {
        file,
      });
    const reason = probe && unsupportedReason(probe.format);
    if (reason)
      throw new AttuneError('unsupported-format', `${file}: ${reason}`, reason, { file, format: probe?.format });
    throw describeDecodeError(file, err);
  }
  checkMetadata(file, meta);
  if (meta.depth === 'uchar') {
    const { width, height } = orientedSize(meta);
    return {
      kind: 'rgb8',
      opened: { pipeline: openSharp(file).rotate().removeAlpha().toColourspace('srgb'), width, height },
    };
  }
  // 16-bit: the raw samples at full precision; the value mapping turns them into [0, 1]
  try {
    const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    const { data, info } = await openSharp(file)
      .rotate()
      .removeAlpha()
      .toColourspace(grey ? 'grey16' : 'rgb16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    const samples = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
    return {
      kind: 'float',
      image: { data: Float32Array.from(samples), width: info.width, height: info.height, channels: info.channels },
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
  if (channels > MAX_BANDS || (meta.format === 'tiff' && isMultispectralTiff(meta))) {
    throw new AttuneError(
      'unsupported-bands',
      `${file} has ${channels} bands (a multispectral image); it needs a band choice.`,
      'Choose how its bands are used on the Data screen (attune: --bands 4,3,2 for three bands as RGB, 1-based, or --bands all for every band as an input channel).',
      { file, channels },
    );
  }
  if (meta.depth !== 'uchar' && meta.depth !== 'ushort') {
    throw new AttuneError(
      'unsupported-depth',
      `${file} stores ${meta.depth} samples; only 8-bit and 16-bit integer images are supported.`,
      'Convert it to 16-bit integer PNG or TIFF (rescaling the values to 0–65535) or to 8-bit.',
      { file, depth: meta.depth },
    );
  }
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
