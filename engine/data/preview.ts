/**
 * Small previews of what the model will see, for the app's Data screen: DICOM and 16-bit images through
 * the chosen window (float pipeline, then 8 bits for display only), multispectral GeoTIFFs through the
 * band mapping (true colour for Sentinel-2 when all bands are used). Ordinary photos are not special-cased.
 */
import sharp from 'sharp';
import { defaultPreprocessing, DEFAULT_VALUES, type Preprocessing, type VoiRule } from '../preprocessing';
import { previewRgb, type BandSelection } from './bands';
import { readRaster } from './geotiff';
import { decodeEvalRgb } from './image';
import type { PixelImage, RgbImage } from './pixels';
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

/** 8-bit RGB of the model's view of `file` (without normalisation), `size`×`size`. */
export async function previewRgbImage(file: string, opts: PreviewOptions = {}): Promise<RgbImage> {
  const size = opts.size ?? 112;
  const head = await readHead(file).catch(() => new Uint8Array(0));
  if (sniffHead(head) === 'tiff') {
    const meta = await sharp(file)
      .metadata()
      .catch(() => undefined);
    if (!meta || (meta.channels ?? 0) > 4) {
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
  const img = await previewRgbImage(file, opts);
  const raw = { width: img.width, height: img.height, channels: 3 as const };
  const jpeg = await sharp(img.data, { raw }).jpeg({ quality: 80 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
