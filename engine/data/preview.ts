/**
 * Small previews of what the model will see, for the app's Data screen: DICOM and 16-bit images through
 * the chosen window (float pipeline, then 8 bits for display only), multispectral GeoTIFFs through the
 * band mapping (true colour for Sentinel-2 when all bands are used). Ordinary photos are not special-cased.
 */
import sharp from 'sharp';
import { defaultPreprocessing, DEFAULT_VALUES, type Preprocessing, type VoiRule } from '../preprocessing';
import { previewRgb, type BandSelection } from './bands';
import { readRaster } from './geotiff';
import { isMultispectralTiff } from './decode';
import { decodeEvalRgb } from './image';
import { isFloatImage, type PixelImage, type RgbImage } from './pixels';
import { readHead } from './source';
import { sniffHead } from './sniff';

export interface PreviewOptions {
  window?: VoiRule;
  valueOffset?: number;
  bands?: BandSelection;
  /** side of the square preview (centre crop of the shorter side) */
  size?: number;
}

function toBytes(img: PixelImage): Uint8Array {
  if (img.data instanceof Uint8Array) return img.data;
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = img.data[i] * 255;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/**
 * 8-bit RGB for showing a decoded model view (decodeEvalRgb): photos as they are, mapped DICOM/16-bit values
 * (0–1 after the window) as grey or colour, and band stacks other than 3 as the min–max stretched mean of the
 * bands: which band is red is not known at this point, and where the model looked is what matters.
 */
export function displayRgb(img: PixelImage): RgbImage {
  const { width, height } = img;
  if (!isFloatImage(img)) return { data: img.data, width, height };
  const c = img.channels;
  if (c === 3) return { data: toBytes(img), width, height };
  const n = width * height;
  const grey = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += img.data[p * c + k];
    grey[p] = s / c;
  }
  let lo = Infinity;
  let hi = -Infinity;
  if (c === 1) [lo, hi] = [0, 1];
  else for (const v of grey) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const span = hi > lo ? hi - lo : 1;
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const v = Math.round((255 * (grey[p] - lo)) / span);
    data.fill(v <= 0 ? 0 : v >= 255 ? 255 : v, p * 3, p * 3 + 3);
  }
  return { data, width, height };
}

/** An RGB image as a JPEG data URL (what the app shows). */
export async function jpegDataUrl(img: RgbImage, quality = 80): Promise<string> {
  const jpeg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

/** 8-bit RGB of the model's view of `file` (without normalisation), `size`×`size`. */
export async function previewRgbImage(file: string, opts: PreviewOptions = {}): Promise<RgbImage> {
  const size = opts.size ?? 112;
  const head = await readHead(file).catch(() => new Uint8Array(0));
  if (sniffHead(head) === 'tiff') {
    const meta = await sharp(file)
      .metadata()
      .catch(() => undefined);
    if (!meta || isMultispectralTiff(meta)) {
      const r = await readRaster(file);
      const rgb = await previewRgb({ ...r, file }, opts.bands ?? { mode: 'all' });
      const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
        .resize(size, size, { fit: 'cover' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data), width: info.width, height: info.height };
    }
  }
  const pre: Preprocessing = {
    ...defaultPreprocessing(size, [0, 0, 0], [1, 1, 1]),
    resizeTo: size,
    values: { ...DEFAULT_VALUES, ...(opts.window ? { voi: opts.window } : {}), offset: opts.valueOffset ?? 0 },
  };
  const img = await decodeEvalRgb(file, pre);
  return { data: toBytes(img), width: img.width, height: img.height };
}

/** The preview as a JPEG data URL. */
export async function previewDataUrl(file: string, opts: PreviewOptions = {}): Promise<string> {
  return jpegDataUrl(await previewRgbImage(file, opts));
}
