/**
 * "Where the model looked" (runs in the worker): the engine's Grad-CAM maps, each with a small colour-mapped
 * PNG (one pixel per grid cell, transparent where the map is cold) that the app stretches over the model's own view
 * of the image (its crop), so the two line up whatever the image's shape.
 */
import sharp from 'sharp';
import { explainImages } from '../../engine/api';
import type { Explanation } from './engine-contract';

export type ExplanationView = Explanation & { overlay: string };

/** blue → yellow → red, alpha rising with the value so that the image stays visible where the map is cold */
function colour(v: number): [number, number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const r = t < 0.5 ? 2 * t : 1;
  const g = t < 0.5 ? 2 * t : 2 - 2 * t;
  const b = t < 0.5 ? 1 - 2 * t : 0;
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255), Math.round(40 + t * 150)];
}

export async function overlayPng(heatmap: number[], gridH: number, gridW: number): Promise<string> {
  const px = Buffer.alloc(gridH * gridW * 4);
  heatmap.forEach((v, i) => px.set(colour(v), i * 4));
  const png = await sharp(px, { raw: { width: gridW, height: gridH, channels: 4 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

export async function explainWithOverlays(
  source: Parameters<typeof explainImages>[0],
  files: string[],
): Promise<ExplanationView[]> {
  const out: ExplanationView[] = [];
  for (const e of await explainImages(source, files, { view: true }))
    out.push({ ...e, overlay: await overlayPng(e.heatmap, e.gridH, e.gridW) });
  return out;
}
