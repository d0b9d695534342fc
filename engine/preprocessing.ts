/**
 * How images become model input. Recorded in every run and in every exported model's metadata,
 * because an export that preprocesses differently from the app is the bug users hit most (DESIGN.md, export contract).
 */
export type ResizeMode =
  /** resize the shorter side to `resizeTo`, then centre-crop `size`×`size` (ImageNet convention) */
  | 'shorter-crop'
  /** resize to `size`×`size` ignoring aspect ratio */
  | 'squash'
  /** fit the longer side to `size`, pad the rest with the mean colour */
  | 'pad';

export interface Preprocessing {
  /** square input side the backbone expects, e.g. 224 */
  size: number;
  resize: ResizeMode;
  /** shorter side before the centre crop (shorter-crop only), e.g. 256 for 224 */
  resizeTo: number;
  /** per-channel mean and std applied to x/255, RGB order */
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: 'RGB';
  /** how 16-bit images map to 8 bit before normalisation */
  bitDepthRule: 'full-range' | 'percentile-0.5-99.5';
}

export function defaultPreprocessing(size: number, mean: [number, number, number], std: [number, number, number]): Preprocessing {
  return { size, resize: 'shorter-crop', resizeTo: Math.round((size * 256) / 224), mean, std, channelOrder: 'RGB', bitDepthRule: 'full-range' };
}

/** mean = std = 0.5, i.e. x/127.5 − 1: the timm/torchvision ViT convention. */
export const VIT_NORMALISATION = { mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };
/** ImageNet statistics, used by torchvision CNNs such as MobileNetV2. */
export const IMAGENET_NORMALISATION = {
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
};
