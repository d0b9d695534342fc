/**
 * The deletion check for explanations: removing the most salient pixels (set to the normalised mean, i.e. 0)
 * should lower the explained class's probability more than removing as many random pixels.
 */
import { mulberry32 } from '../util/random';
import { upsample, type Explainer } from './gradcam';

export interface DeletionResult {
  file: string;
  cls: number;
  original: number;
  salientDeleted: number;
  randomDeleted: number;
}

/** Zeroes (all channels of) the given pixel positions of a [3, S, S] tensor. */
function deletePixels(x: Float32Array, S: number, positions: ArrayLike<number>): Float32Array {
  const y = Float32Array.from(x);
  for (let i = 0; i < positions.length; i++) for (let c = 0; c < 3; c++) y[c * S * S + positions[i]] = 0;
  return y;
}

export async function deletionCheck(
  explainer: Explainer,
  file: string,
  x: Float32Array,
  fraction = 0.2,
  seed = 1,
): Promise<DeletionResult> {
  const S = explainer.preprocessing.size;
  const { probs, cls, heatmap } = await explainer.explain(x);
  const sal = upsample(heatmap, explainer.target.h, explainer.target.w, S);
  const k = Math.round(fraction * S * S);
  const order = [...sal.keys()].sort((a, b) => sal[b] - sal[a]);
  const rng = mulberry32(seed);
  const all = [...Array(S * S).keys()];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  const p = async (z: Float32Array) => (await explainer.explain(z, cls)).probs[cls];
  return {
    file,
    cls,
    original: probs[cls],
    salientDeleted: await p(deletePixels(x, S, order.slice(0, k))),
    randomDeleted: await p(deletePixels(x, S, all.slice(0, k))),
  };
}
