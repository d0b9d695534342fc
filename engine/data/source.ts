/**
 * One entry point from a file to pixels, whatever the format family (DESIGN.md: one decoder module
 * per family): sharp for JPEG/PNG/WebP/GIF/AVIF/TIFF up to four bands (8-bit stays on sharp's fast
 * path; 16-bit comes out as float samples), DICOM (./dicom, recognised by content, with or without
 * `.dcm`), and multispectral GeoTIFF (./geotiff) when the preprocessing chooses bands. The value
 * mapping of the preprocessing record is applied here, so everything after this point (resize,
 * crop, augmentation, normalisation) is format-independent.
 */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { AttuneError } from '../errors';
import type { BandMapping, ValueMapping } from '../preprocessing';
import { applyBandScaling } from './bands';
import { openImage, type SharpOpened } from './decode';
import { looksLikeDicom, readDicomImage } from './dicom';
import { readRaster } from './geotiff';
import type { FloatImage } from './pixels';
import { sniffHead } from './sniff';
import { applyVoi } from './values';

const FRAME_SUFFIX = /::frame=(\d+)$/;

/** The item path of frame `k` of a multi-frame DICOM file (every frame as its own sample). */
export function frameItemPath(file: string, k: number): string {
  return `${file}::frame=${k}`;
}

/** The file behind an item path, and its frame when it names one. */
export function framelessPath(item: string): string {
  return item.replace(FRAME_SUFFIX, '');
}

function frameOf(item: string): number | undefined {
  const m = FRAME_SUFFIX.exec(item);
  return m ? Number(m[1]) : undefined;
}

/** Extensions of formats only sharp reads (TIFF may be multispectral, DICOM may have any name). */
const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.avif']);

/** Bytes read to recognise a format: enough for DICOM's preamble and a bare dataset's first elements. */
const HEAD = 512;

export async function readHead(file: string): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const head = new Uint8Array(HEAD);
    const { bytesRead } = await fh.read(head, 0, HEAD, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A DICOM file by content: Part 10 ('DICM' at 128) or a bare dataset (PACS exports often have no extension). */
export function isDicomHead(head: Uint8Array): boolean {
  return sniffHead(head) === 'dicom' || looksLikeDicom(head);
}

function subtractOffset(img: FloatImage, offset: number): FloatImage {
  if (!offset) return img;
  const d = img.data;
  for (let i = 0; i < d.length; i++) d[i] -= offset;
  return img;
}

/** What the caller will resize to: DICOM JPEG 2000 frames decode no larger than that needs. */
export interface OpenOptions {
  /**
   * The shorter side the pipeline needs at least (resizeTarget of the preprocessing). Part of the preprocessing
   * contract: training, evaluation, previews and `attune predict` all pass it, so a large JPEG 2000 image is
   * decoded at the same reduced wavelet level (its low-pass band, ≥ minSide on the shorter side) everywhere.
   */
  minSide?: number;
}

/**
 * DICOM: the reader applies the Modality LUT (slope/intercept) and marks padding NaN; then the VOI
 * rule, then MONOCHROME1 inversion (after the window, as PS3.4 N.2.1 orders it). Colour images
 * (RGB, YBR, palette) are already RGB and scale by their full intensity.
 */
export async function openDicom(
  file: string,
  values: ValueMapping,
  frame?: number,
  opts: OpenOptions = {},
): Promise<FloatImage> {
  const img = await readDicomImage(file, { ...(frame === undefined ? {} : { frame }), minSide: opts.minSide });
  const image: FloatImage = { data: img.data, width: img.width, height: img.height, channels: img.channels };
  if (img.channels === 3) {
    const k = 1 / (img.colourMax ?? 255);
    const out = new Float32Array(img.data.length);
    for (let i = 0; i < out.length; i++) out[i] = img.data[i] * k;
    return { ...image, data: out };
  }
  const h = img.header;
  const storedLo = h.pixelRepresentation === 1 ? -(2 ** (h.bitsStored - 1)) : 0;
  const storedHi = h.pixelRepresentation === 1 ? 2 ** (h.bitsStored - 1) - 1 : 2 ** h.bitsStored - 1;
  const a = storedLo * h.rescaleSlope + h.rescaleIntercept;
  const b = storedHi * h.rescaleSlope + h.rescaleIntercept;
  const range = { minValue: Math.min(a, b), maxValue: Math.max(a, b) };
  return applyVoi(image, values.voi, { fileWindow: h.window, invert: img.invert, ...range });
}

/**
 * Multispectral: the chosen bands with the scaling fitted on the training split (bands.ts: 'map'
 * stretches three bands to [0, 1], 'all' standardises every band), as an interleaved float image.
 */
export async function openGeoTiff(file: string, m: BandMapping): Promise<FloatImage> {
  if (!m.scaling) {
    throw new AttuneError(
      'band-scaling-missing',
      `No band scaling is known for ${file}.`,
      'Band scaling is fitted on the training split when a run starts; predict with a model exported by Attune.',
      { file },
    );
  }
  const r = await readRaster(file, { expectBands: m.bandCount });
  const planar = applyBandScaling({ ...r, file }, m.selection, m.scaling);
  const n = r.width * r.height;
  const C = planar.length / n;
  const out = new Float32Array(planar.length);
  for (let c = 0; c < C; c++) for (let i = 0, j = c; i < n; i++, j += C) out[j] = planar[c * n + i];
  return { data: out, width: r.width, height: r.height, channels: C };
}

/**
 * The values a VOI rule sees (monochrome DICOM after its modality LUT, 16-bit PNG/TIFF minus the offset),
 * for fitting training-set percentiles; undefined for 8-bit, colour and multispectral images.
 */
export async function readVoiValues(item: string, values: ValueMapping): Promise<Float32Array | undefined> {
  const file = framelessPath(item);
  const head = await readHead(file);
  if (isDicomHead(head)) {
    const img = await readDicomImage(file, { frame: frameOf(item) });
    return img.channels === 1 ? img.data : undefined;
  }
  if (sniffHead(head) === 'tiff' && values.bands) return undefined;
  const opened = await openImage(file);
  return opened.kind === 'float' ? subtractOffset(opened.image, values.offset).data : undefined;
}

/** Opens a file and maps its values: 8-bit images as a sharp pipeline, everything deeper as float. */
export async function openSource(item: string, values: ValueMapping, opts: OpenOptions = {}): Promise<SharpOpened> {
  const frame = frameOf(item);
  if (frame !== undefined) return { kind: 'float', image: await openDicom(framelessPath(item), values, frame, opts) };
  const file = item;
  // photos named as photos go straight to sharp (no extra read on the fast path); the content decides otherwise
  let opened: SharpOpened;
  if (PHOTO_EXTENSIONS.has(extname(file).toLowerCase())) {
    try {
      opened = await openImage(file);
    } catch (err) {
      const head = await readHead(file).catch(() => new Uint8Array(0));
      if (head.length > 0 && isDicomHead(head)) {
        return { kind: 'float', image: await openDicom(file, values, undefined, opts) };
      }
      throw err;
    }
  } else {
    const head = await readHead(file).catch(() => new Uint8Array(0));
    if (head.length > 0 && isDicomHead(head)) {
      return { kind: 'float', image: await openDicom(file, values, undefined, opts) };
    }
    if (values.bands && sniffHead(head) === 'tiff')
      return { kind: 'float', image: await openGeoTiff(file, values.bands) };
    opened = await openImage(file);
  }
  if (opened.kind === 'rgb8') return opened;
  // 16-bit PNG/TIFF: value − offset (e.g. HU + 32768 → HU), then the VOI rule
  const image = subtractOffset(opened.image, values.offset);
  return {
    kind: 'float',
    image: applyVoi(image, values.voi, { minValue: -values.offset, maxValue: 65535 - values.offset }),
  };
}
