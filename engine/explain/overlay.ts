/** Heatmap overlays as PNG: the model's own view of the image (the eval crop) blended with a colour map. */
import sharp from 'sharp';
import type { RgbImage } from '../data/pixels';
import { upsample } from './gradcam';

/** A perceptually ordered blue → cyan → yellow → red ramp (t in [0, 1]). */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [0, 0, 128],
    [0, 160, 255],
    [255, 230, 0],
    [220, 0, 0],
  ];
  const x = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] * (1 - f) + stops[i + 1][c] * f)) as [number, number, number];
}

/** RGB bytes of the model's view (displayRgb of the eval view) with the heatmap blended in where it is warm. */
export function overlayRgb(view: RgbImage, heatmap: Float32Array, h: number, w: number): Uint8Array {
  const S = view.width;
  const sal = upsample(heatmap, h, w, S);
  const out = new Uint8Array(S * S * 3);
  for (let p = 0; p < S * S; p++) {
    const [r, g, b] = ramp(sal[p]);
    const a = 0.25 + 0.35 * sal[p];
    out[p * 3] = Math.round(view.data[p * 3] * (1 - a) + r * a);
    out[p * 3 + 1] = Math.round(view.data[p * 3 + 1] * (1 - a) + g * a);
    out[p * 3 + 2] = Math.round(view.data[p * 3 + 2] * (1 - a) + b * a);
  }
  return out;
}

export async function writeOverlayPng(path: string, rgb: Uint8Array, S: number): Promise<void> {
  await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: S, height: S, channels: 3 } })
    .png()
    .toFile(path);
}
