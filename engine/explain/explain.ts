/** Explanations for files: Grad-CAM per image on an exported model, optionally written as PNG overlays. */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { AttuneError } from '../errors';
import type { Model } from '../ir/graph';
import type { EventSink } from '../events';
import { decodeEvalRgb, rgbToTensor } from '../data/image';
import { displayRgb, jpegDataUrl } from '../data/preview';
import { createExplainer } from './gradcam';
import { overlayRgb, writeOverlayPng } from './overlay';

export interface Explanation {
  file: string;
  label: string;
  index: number;
  probability: number;
  /** Grad-CAM map, row-major gridH × gridW, in [0, 1] */
  heatmap: number[];
  gridH: number;
  gridW: number;
  /** 'cnn' (last spatial feature map) or 'vit' (patch tokens) */
  method: 'cnn' | 'vit';
  overlayPath?: string;
  /**
   * the model's own view of the image (the crop, padding or squash it was given), as a JPEG data URL: the heatmap
   * covers exactly this square, where a thumbnail of the whole image would not line up with it
   */
  view?: string;
}

export async function explainFiles(
  modelPath: string | Model,
  files: string[],
  opts: {
    outDir?: string;
    classIndex?: number;
    /** add each image's model view (`view`) */
    view?: boolean;
    onEvent?: EventSink;
    onError?: (file: string, e: AttuneError) => void;
  } = {},
): Promise<Explanation[]> {
  const ex = await createExplainer(modelPath);
  if (opts.classIndex !== undefined && !(opts.classIndex >= 0 && opts.classIndex < ex.numClasses))
    throw new AttuneError(
      'usage',
      `Class index ${opts.classIndex} is out of range (the model has ${ex.numClasses} classes).`,
      'Leave it out to explain the predicted class.',
    );
  if (opts.outDir) await mkdir(opts.outDir, { recursive: true });
  const out: Explanation[] = [];
  try {
    for (const [i, file] of files.entries()) {
      let decoded: Awaited<ReturnType<typeof decodeEvalRgb>>;
      try {
        decoded = await decodeEvalRgb(file, ex.preprocessing);
      } catch (e) {
        if (e instanceof AttuneError && opts.onError) {
          opts.onError(file, e);
          continue;
        }
        throw e;
      }
      const r = await ex.explain(rgbToTensor(decoded, ex.preprocessing), opts.classIndex);
      const view = opts.view || opts.outDir ? displayRgb(decoded) : undefined;
      const e: Explanation = {
        file,
        index: r.cls,
        label: ex.labels?.[r.cls] ?? String(r.cls),
        probability: r.probs[r.cls],
        heatmap: Array.from(r.heatmap),
        gridH: ex.target.h,
        gridW: ex.target.w,
        method: ex.target.kind,
        ...(opts.view && view ? { view: await jpegDataUrl(view) } : {}),
      };
      if (opts.outDir) {
        e.overlayPath = join(opts.outDir, `${String(i).padStart(3, '0')}-${basename(file, extname(file))}-gradcam.png`);
        await writeOverlayPng(
          e.overlayPath,
          overlayRgb(view!, r.heatmap, ex.target.h, ex.target.w),
          ex.preprocessing.size,
        );
      }
      out.push(e);
      opts.onEvent?.({ type: 'progress', phase: 'predict', done: i + 1, total: files.length, detail: 'explain' });
    }
  } finally {
    await ex.release();
  }
  return out;
}
