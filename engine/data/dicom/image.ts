/** Reads one frame of a DICOM image as float pixels: Modality LUT applied, padding as NaN, colour as RGB. */
import { readFile } from 'node:fs/promises';
import { AttuneError } from '../../errors';
import { applyPalette, readPalette, upsample422, ybrToRgb } from './colour';
import { type DataSet, PIXEL_DATA, ParseFailure, parseDataSet, truncatedError, unreadableError } from './dataset';
import { encapsulatedFrame, nativeFrame } from './frames';
import { type DicomHeader, headerFromDataSet } from './header';
import { type Samples, frameSamples, reducedSize } from './pixels';
import { transferSyntax } from './syntax';

export interface DicomImage {
  header: DicomHeader;
  width: number;
  height: number;
  channels: 1 | 3;
  /**
   * Interleaved HWC float32. Monochrome: stored values → signed handling → Modality LUT (slope/intercept),
   * pixel padding replaced by NaN. Colour (RGB, palette, YBR_*): RGB in 0..colourMax.
   */
  data: Float32Array;
  frameIndex: number;
  /** true for MONOCHROME1: the caller inverts after the VOI window (not inverted here) */
  invert: boolean;
  /** colour images: the value of full intensity (2^BitsStored − 1, or the palette's 2^bits − 1) */
  colourMax?: number;
  /** wavelet levels a JPEG 2000 / HTJ2K frame was decoded short of full resolution (0: full; see `minSide`) */
  level: number;
}

export interface ReadDicomOptions {
  /** default: the middle frame */
  frame?: number;
  /**
   * The shorter side the caller needs at least. JPEG 2000 / HTJ2K frames then decode at the smallest wavelet
   * resolution level whose shorter side is still ≥ minSide (width and height halve per level), as DICOM viewers
   * do; other syntaxes ignore it. Values are the codestream's low-pass band: the same Modality LUT, colour and
   * padding rules apply. Its samples sit at 2^k·n of the full grid, not at block centres: a (1 − 2^−k)/2-pixel
   * offset against an area average (reduced.test.ts measures both). Without it every frame decodes at full size.
   */
  minSide?: number;
}

function notDicom(file: string): AttuneError {
  return new AttuneError('not-dicom', `${file} is not a DICOM file.`, 'Remove it from the dataset folder.', { file });
}

function parseWhole(file: string, bytes: Uint8Array): DataSet {
  try {
    return parseDataSet(bytes, false);
  } catch (e) {
    if (!(e instanceof ParseFailure)) throw e;
    if (e.reason === 'not a DICOM file') throw notDicom(file);
    if (e.truncated) throw truncatedError(file);
    throw unreadableError(file, 'its dataset is malformed');
  }
}

/** Monochrome: padding → NaN (compared on stored values), then value × slope + intercept. */
function modalityLut(values: Float64Array, h: DicomHeader): Float32Array {
  const out = new Float32Array(values.length);
  const { rescaleSlope: slope, rescaleIntercept: intercept } = h;
  const pad = h.pixelPadding;
  const limit = h.pixelPaddingRangeLimit ?? pad;
  const lo = pad === undefined ? Infinity : Math.min(pad, limit!);
  const hi = pad === undefined ? -Infinity : Math.max(pad, limit!);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = v >= lo && v <= hi ? NaN : v * slope + intercept;
  }
  return out;
}

/** RGB float data from decoded colour samples, converting YBR unless the codec already did. */
function toRgb(s: Samples, h: DicomHeader, width: number, height: number): Float32Array {
  let values = s.values;
  let photometric = h.photometric;
  if (s.rgbFromCodec) photometric = 'RGB';
  if (photometric === 'YBR_FULL_422' || photometric === 'YBR_PARTIAL_422') {
    values = upsample422(values, width, height);
  }
  if (photometric.startsWith('YBR_FULL')) ybrToRgb(values, h.bitsStored, false);
  else if (photometric.startsWith('YBR_PARTIAL')) ybrToRgb(values, h.bitsStored, true);
  else if (photometric === 'YBR_ICT' || photometric === 'YBR_RCT') {
    // Only valid inside JPEG 2000, where the codec inverts the transform; reaching here means it did not.
    throw new Error(`${photometric} is only valid in JPEG 2000`);
  }
  return Float32Array.from(values);
}

/** Reads frame `opts.frame` (default: the middle one) of a DICOM image. */
export async function readDicomImage(file: string, opts: ReadDicomOptions = {}): Promise<DicomImage> {
  const bytes = await readFile(file);
  const ds = parseWhole(file, bytes);
  const header = headerFromDataSet(ds, bytes);
  if (header.kind === 'skip') {
    throw new AttuneError(
      'not-an-image',
      `${file} holds no image to train on: ${header.skipReason}.`,
      'Nothing to do: Attune skips it. Remove it from the dataset folder to silence this message.',
      { file, reason: header.skipReason },
    );
  }
  const syntax = transferSyntax(header.transferSyntaxUid);
  if (syntax.encoding === 'unsupported') {
    throw new AttuneError(
      'unsupported-transfer-syntax',
      `${file} is encoded as ${syntax.name}, which Attune cannot decode.`,
      'Export it again uncompressed (or convert it, e.g. with gdcmconv --raw) and scan again.',
      { file, transferSyntaxUid: header.transferSyntaxUid },
    );
  }
  const frameIndex = opts.frame ?? Math.floor(header.frames / 2);
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= header.frames) {
    throw new AttuneError(
      'bad-frame',
      `${file} has ${header.frames} frame(s); frame ${frameIndex} does not exist.`,
      `Choose a frame from 0 to ${header.frames - 1}.`,
      { file, frames: header.frames },
    );
  }
  const el = ds.elements[PIXEL_DATA]!;
  const fragments = el.fragments ?? [];
  if (fragments.some((f) => f.position + f.length > ds.byteArray.length)) throw truncatedError(file);
  const native = el.encapsulatedPixelData ? undefined : nativeFrame(ds, el, header, frameIndex);
  if (!el.encapsulatedPixelData && !native) throw truncatedError(file);
  try {
    const data = native ?? encapsulatedFrame(ds, el, header, frameIndex, syntax.encoding.startsWith('jpeg-'));
    const samples = await frameSamples(syntax.encoding, data, header, el, opts.minSide);
    return toImage(file, ds, header, frameIndex, samples);
  } catch (e) {
    if (e instanceof AttuneError) throw e;
    // Codecs throw strings, numbers (WASM) or Errors; none is worth more than a short description here.
    const what = e instanceof Error ? e.message : String(e);
    throw unreadableError(file, `frame ${frameIndex} (${syntax.name}) is corrupt or unsupported (${what})`);
  }
}

/** Decoded stored samples → the float image: palette or YBR to RGB, or the Modality LUT for monochrome. */
function toImage(file: string, ds: DataSet, header: DicomHeader, frameIndex: number, samples: Samples): DicomImage {
  const { width, height } = reducedSize(header, samples.level);
  const components = header.photometric === 'PALETTE COLOR' ? 1 : samples.components;
  // Native 4:2:2 data holds two samples per pixel (Y Y Cb Cr per pair); everything else `components`.
  const expected = width * height * (isSubsampled(header, samples) ? 2 : components);
  if (samples.values.length !== expected) {
    throw unreadableError(file, `frame ${frameIndex} holds ${samples.values.length} samples, not ${expected}`);
  }
  const base = { header, width, height, frameIndex, invert: false, level: samples.level ?? 0 };
  if (header.photometric === 'PALETTE COLOR') {
    const palette = readPalette(ds, header.pixelRepresentation === 1);
    if (!palette) throw unreadableError(file, 'its palette colour lookup tables are missing or segmented');
    return { ...base, channels: 3, data: applyPalette(samples.values, palette), colourMax: 2 ** palette.bits - 1 };
  }
  if (components === 3) {
    return { ...base, channels: 3, data: toRgb(samples, header, width, height), colourMax: 2 ** header.bitsStored - 1 };
  }
  if (components !== 1) throw unreadableError(file, `${components} samples per pixel is not an image Attune reads`);
  const invert = header.photometric === 'MONOCHROME1';
  return { ...base, channels: 1, data: modalityLut(samples.values, header), invert };
}

function isSubsampled(h: DicomHeader, s: Samples): boolean {
  return !s.rgbFromCodec && (h.photometric === 'YBR_FULL_422' || h.photometric === 'YBR_PARTIAL_422');
}
