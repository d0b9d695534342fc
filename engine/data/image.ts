/**
 * Files → normalised CHW float tensors in a backbone's preprocessing. The no-augmentation path is
 * the export contract (DESIGN.md): it reproduces torchvision's `Resize(resizeTo)` + `CenterCrop(size)`
 * on PIL images (bilinear, antialiased when shrinking) so that predictions match PyTorch's.
 */
import { inputChannels, type Preprocessing } from '../preprocessing';
import { augmentToTensor, normaliseAugment, type AugmentOptions, type AugmentPreset } from './augment';
import { toRgb, type Opened } from './decode';
import { greyToRgb, isFloatImage, type FloatImage, type PixelImage, type RgbImage } from './pixels';
import { cropFloat, cropRgb, padFloat, padRgb, resizeBilinearFloat, resizeBilinearPil } from './resample';
import { openSource } from './source';
import { channelNormalisation } from './normalise';

export type { AugmentPreset, AugmentOptions } from './augment';
export type { RgbImage, FloatImage, PixelImage } from './pixels';
export { MAX_INPUT_PIXELS } from './decode';

/** Python's round(): halves to even. torchvision's CenterCrop uses it for the crop offset. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `_compute_resized_output_size` for an int size: shorter side → s, longer side truncated. */
export function shorterSideSize(width: number, height: number, s: number): { width: number; height: number } {
  if (width <= height) return { width: s, height: Math.trunc((s * height) / width) };
  return { width: Math.trunc((s * width) / height), height: s };
}

/** The side a `shorter-crop` resize targets; never below the crop. */
export function resizeTarget(pre: Preprocessing): number {
  return Math.max(pre.resizeTo, pre.size);
}

const RESIZE = { kernel: 'linear', fit: 'fill', fastShrinkOnLoad: false } as const;

/**
 * Resizes like Pillow's BILINEAR. Shrinking runs in libvips (native threads; its reducer derives
 * from Pillow's and stays within ±3 levels, mean ≈0.2, on the ImageNet probe photos); enlarging
 * runs Pillow's algorithm in JS, because libvips' upsampler uses a different pixel-centre
 * convention (differences up to 80 levels) and small images are cheap to enlarge.
 */
async function resizeOpened(img: Opened, width: number, height: number, file: string): Promise<RgbImage> {
  if (width === img.width && height === img.height) return toRgb(img.pipeline, file);
  if (width <= img.width && height <= img.height) return toRgb(img.pipeline.resize(width, height, RESIZE), file);
  return resizeBilinearPil(await toRgb(img.pipeline, file), width, height);
}

/** Float images: the same geometry without any 8-bit step; grey becomes RGB after resizing (cheaper). */
function finishFloat(img: FloatImage, pre: Preprocessing): FloatImage {
  return inputChannels(pre) === 3 ? greyToRgb(img) : img;
}

function resizeFloat(img: FloatImage, width: number, height: number): FloatImage {
  return width === img.width && height === img.height ? img : resizeBilinearFloat(img, width, height);
}

/** The evaluation view of a float image (same boxes as the 8-bit path). */
function evalFloat(img: FloatImage, pre: Preprocessing): FloatImage {
  const { width, height } = img;
  const S = pre.size;
  if (pre.resize === 'squash') return finishFloat(resizeFloat(img, S, S), pre);
  if (pre.resize === 'pad') {
    const k = S / Math.max(width, height);
    const w = Math.max(1, Math.min(S, Math.round(width * k)));
    const h = Math.max(1, Math.min(S, Math.round(height * k)));
    const out = finishFloat(resizeFloat(img, w, h), pre);
    const fill = out.channels === 3 ? [...pre.mean] : new Array<number>(out.channels).fill(0);
    return padFloat(out, S, S, Math.floor((S - w) / 2), Math.floor((S - h) / 2), fill);
  }
  const r = shorterSideSize(width, height, resizeTarget(pre));
  return finishFloat(
    cropFloat(resizeFloat(img, r.width, r.height), pyRound((r.width - S) / 2), pyRound((r.height - S) / 2), S, S),
    pre,
  );
}

function baseFloat(img: FloatImage, pre: Preprocessing): FloatImage {
  const { width, height } = img;
  const R = resizeTarget(pre);
  if (pre.resize === 'squash') return finishFloat(resizeFloat(img, Math.min(width, R), Math.min(height, R)), pre);
  const side = pre.resize === 'pad' ? Math.max(width, height) : Math.min(width, height);
  if (side <= R) return finishFloat(img, pre);
  const k = R / side;
  return finishFloat(resizeFloat(img, Math.max(1, Math.round(width * k)), Math.max(1, Math.round(height * k))), pre);
}

/**
 * The deterministic evaluation view, `size`×`size`: 8-bit RGB bytes for ordinary images, float
 * (after the value mapping) for 16-bit, DICOM and multispectral images.
 */
export async function decodeEvalRgb(file: string, pre: Preprocessing): Promise<PixelImage> {
  const src = await openSource(file, pre.values, { minSide: resizeTarget(pre) });
  if (src.kind === 'float') return evalFloat(src.image, pre);
  const opened = src.opened;
  const { width, height } = opened;
  const S = pre.size;
  if (pre.resize === 'squash') return resizeOpened(opened, S, S, file);
  if (pre.resize === 'pad') {
    const k = S / Math.max(width, height);
    const w = Math.max(1, Math.min(S, Math.round(width * k)));
    const h = Math.max(1, Math.min(S, Math.round(height * k)));
    const left = Math.floor((S - w) / 2);
    const top = Math.floor((S - h) / 2);
    const fill: [number, number, number] = [
      Math.round(pre.mean[0] * 255),
      Math.round(pre.mean[1] * 255),
      Math.round(pre.mean[2] * 255),
    ];
    return padRgb(await resizeOpened(opened, w, h, file), S, S, left, top, fill);
  }
  const r = shorterSideSize(width, height, resizeTarget(pre));
  const left = pyRound((r.width - S) / 2);
  const top = pyRound((r.height - S) / 2);
  return cropRgb(await resizeOpened(opened, r.width, r.height, file), left, top, S, S);
}

/**
 * The image that augmentations sample from, at most `resizeTo` on the side that matters for the
 * mode (never upscaled: sampling interpolates anyway). Small enough to cache, large enough that
 * random crops are not blurry.
 */
export async function decodeBaseRgb(file: string, pre: Preprocessing): Promise<PixelImage> {
  const src = await openSource(file, pre.values, { minSide: resizeTarget(pre) });
  if (src.kind === 'float') return baseFloat(src.image, pre);
  const opened = src.opened;
  const { width, height } = opened;
  const R = resizeTarget(pre);
  if (pre.resize === 'squash') return resizeOpened(opened, Math.min(width, R), Math.min(height, R), file);
  const side = pre.resize === 'pad' ? Math.max(width, height) : Math.min(width, height);
  if (side <= R) return toRgb(opened.pipeline, file);
  const k = R / side;
  return resizeOpened(opened, Math.max(1, Math.round(width * k)), Math.max(1, Math.round(height * k)), file);
}

/** HWC pixels → normalised CHW floats ((x/255 − mean)/std for bytes), written at `out[offset…]`. */
export function rgbToTensor(img: PixelImage, pre: Preprocessing, out?: Float32Array, offset = 0): Float32Array {
  const n = img.width * img.height;
  if (isFloatImage(img)) {
    const C = img.channels;
    const dst = out ?? new Float32Array(C * n);
    const { a, b } = channelNormalisation(pre, C);
    for (let c = 0; c < C; c++) {
      const base = offset + c * n;
      for (let i = 0, j = c; i < n; i++, j += C) dst[base + i] = img.data[j] * a[c] + b[c];
    }
    return dst;
  }
  const dst = out ?? new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const a = 1 / (255 * pre.std[c]);
    const b = -pre.mean[c] / pre.std[c];
    const base = offset + c * n;
    for (let i = 0, j = c; i < n; i++, j += 3) dst[base + i] = img.data[j] * a + b;
  }
  return dst;
}

export interface LoadImageOptions {
  /** 'none' (default) gives the evaluation view */
  augment?: AugmentPreset | AugmentOptions;
  /** source of randomness for augmentation; required for reproducibility (default Math.random) */
  rng?: () => number;
}

/**
 * One image as a CHW float32 tensor [channels, size, size] in `pre`'s normalisation (RGB, or the chosen bands).
 * Throws AttuneError (code `unsupported-format`, `truncated`, `image-too-large`, `empty`, …) for bad files.
 */
export async function loadImageTensor(
  file: string,
  pre: Preprocessing,
  opts: LoadImageOptions = {},
): Promise<Float32Array> {
  const aug = normaliseAugment(opts.augment);
  if (aug.preset === 'none') return rgbToTensor(await decodeEvalRgb(file, pre), pre);
  const base = await decodeBaseRgb(file, pre);
  return augmentToTensor(base, pre, aug, opts.rng ?? Math.random);
}
