/** In-memory image types of the data pipeline. */

/** An interleaved (HWC) 8-bit RGB image: the fast path for ordinary photos (values x/255). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * An interleaved (HWC) float image with any number of channels. After the value mapping its samples are
 * model values before normalisation: [0, 1] for display-mapped images, standardised for multispectral 'all' mode.
 */
export interface FloatImage {
  data: Float32Array;
  width: number;
  height: number;
  channels: number;
}

/** What decoding yields and what the cache holds. */
export type PixelImage = RgbImage | FloatImage;

export function isFloatImage(img: PixelImage): img is FloatImage {
  return img.data instanceof Float32Array;
}

/** Grey (1 channel) → three equal channels; other images unchanged. */
export function greyToRgb(img: FloatImage): FloatImage {
  if (img.channels !== 1) return img;
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[j] = out[j + 1] = out[j + 2] = img.data[i];
  return { data: out, width: img.width, height: img.height, channels: 3 };
}
