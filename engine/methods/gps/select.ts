/**
 * GPS phase 1 and 2 (METHODS.md §GPS): the supervised-contrastive selection program and per-neuron top-K.
 *
 * Selection loss (SupCon, Khosla et al. 2020, as in FightingFighting/GPS): on L2-normalised backbone
 * features z of 2N views (no head), with τ = 0.07,
 *   L_i = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a∈A(i)} exp(z_i·z_a/τ) ),  L = mean over anchors with |P(i)| > 0.
 * The graph computes L from z and two host-built matrices: `colmask` (A(i): valid views other than i) and
 * `pos` (P(i) / |P(i)| / #anchors), so padded rows and label bookkeeping need no graph ops. Its outputs are
 * ∂L/∂W for every weight matrix; the host sums them over one pass of the training set (the official code
 * accumulates `param.grad` the same way) and takes |G| at the end.
 */
import { differentiate } from '../../autodiff/differentiate';
import { FEATURES } from '../../backbone/prepare';
import { Builder } from '../../ir/builder';
import { foldConstants, probe, type ShapeMap } from '../../ir/fold';
import { int, pruneDead, topoSort, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { createSession } from '../../runtime/session';
import { flatIndex, weightMatrices, type WeightMatrix } from '../layers';

export const SUPCON_TAU = 0.07;
const POS = 'gps_pos';
const COLMASK = 'gps_colmask';
export const SUPCON_LOSS = 'gps_supcon_loss';

export interface SelectionProgram {
  model: Model;
  imageInput: string;
  views: number;
  weights: WeightMatrix[];
  /** gradient output name per weight name */
  grads: Map<string, string>;
}

/** Appends the SupCon loss on `features` [M, D]; returns the scalar's name. */
export function supconLoss(b: Builder, features: string, tau: number): string {
  const sq = b.reduce('ReduceSumSquare', features, [1], true);
  // F.normalize: z = f / max(‖f‖, ε); features of a real backbone are never near zero, so ε only guards padding
  const z = b.div(features, b.sqrt(b.add(sq, b.scalar(1e-24))));
  // z_i·z_a/τ ≤ 1/τ: subtracting that constant (instead of the detached row max) keeps exp in range
  const s = b.sub(b.div(b.matmul(z, b.transpose(z, [1, 0])), b.scalar(tau)), b.scalar(1 / tau));
  const denom = b.reduceSum(b.mul(b.exp(s), COLMASK), [1], true);
  const logProb = b.sub(s, b.log(b.add(denom, b.scalar(1e-30))));
  return b.neg(b.op('ReduceSum', [b.mul(POS, logProb)], { keepdims: int(0) }));
}

/** Host side: the A(i) mask and the normalised positive weights for one batch of views. */
export function supconMasks(labels: ArrayLike<number>, count: number, M: number): { pos: Float32Array; colmask: Float32Array; anchors: number } {
  const colmask = new Float32Array(M * M);
  const pos = new Float32Array(M * M);
  const nPos = new Array<number>(count).fill(0);
  for (let i = 0; i < count; i++)
    for (let j = 0; j < count; j++) {
      if (i === j) continue;
      colmask[i * M + j] = 1;
      if (labels[i] === labels[j]) nPos[i]++;
    }
  const anchors = nPos.filter((n) => n > 0).length;
  for (let i = 0; i < count; i++) {
    if (!nPos[i]) continue;
    for (let j = 0; j < count; j++) if (i !== j && labels[i] === labels[j]) pos[i * M + j] = 1 / nPos[i] / anchors;
  }
  return { pos, colmask, anchors };
}

/** The selection program at `views` rows: forward to the features, SupCon, backward to every weight matrix. */
export async function compileSelectionProgram(prepared: Model, views: number, tau = SUPCON_TAU): Promise<SelectionProgram> {
  const inp = prepared.graph.inputs[0];
  const dims = [views, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const { model } = await foldConstants(prepared, { [inp.name]: dims });
  const g = model.graph;
  const weights = weightMatrices(g);
  const b = new Builder(g, 'gps_select', 'float32', model.opset);
  g.inputs.push({ name: POS, dtype: 'float32', shape: [views, views] }, { name: COLMASK, dtype: 'float32', shape: [views, views] });
  const loss = supconLoss(b, FEATURES, tau);
  g.nodes.push({ name: 'gps_loss_id', op: 'Identity', domain: '', inputs: [loss], outputs: [SUPCON_LOSS], attrs: {} });
  g.outputs = [{ name: SUPCON_LOSS, dtype: 'float32', shape: [] }];
  pruneDead(g);
  topoSort(g);
  const feeds: Record<string, Tensor> = {
    [inp.name]: tensor('float32', dims),
    [POS]: tensor('float32', [views, views]),
    [COLMASK]: tensor('float32', [views, views]),
  };
  const { shapes } = await probe(g, model.opset, feeds, () => false);
  const all: ShapeMap = shapes;
  for (const [k, t] of g.initializers) all.set(k, { dtype: t.dtype, dims: t.dims });
  for (const i of g.inputs) all.set(i.name, { dtype: i.dtype, dims: i.shape as number[] });
  const live = weights.filter((w) => g.initializers.has(w.name));
  const grads = differentiate(g, all, SUPCON_LOSS, live.map((w) => w.name), { prefix: 'gps_grad', opset: model.opset });
  const names = new Map<string, string>();
  for (const w of live) {
    const out = `gps_grad::${w.name}`;
    g.nodes.push({ name: `${out}/id`, op: 'Identity', domain: '', inputs: [grads.get(w.name)!], outputs: [out], attrs: {} });
    g.outputs.push({ name: out, dtype: 'float32', shape: w.shape });
    names.set(w.name, out);
  }
  topoSort(g);
  pruneDead(g);
  return { model, imageInput: inp.name, views, weights: live, grads: names };
}

export interface Batch {
  x: Float32Array;
  labels: Int32Array;
  count: number;
}

/** One pass over `batches` (rows = views): G = Σ_batches ∂L/∂W per weight, in float64. */
export async function accumulateGradients(p: SelectionProgram, batches: AsyncIterable<Batch>, rowSize: number, onBatch?: (done: number) => void, signal?: AbortSignal): Promise<Map<string, Float64Array>> {
  const session = await createSession(p.model, { provider: 'cpu' });
  const sums = new Map(p.weights.map((w) => [w.name, new Float64Array(w.rows * w.cols)]));
  const inputDims = [p.views, ...(p.model.graph.inputs.find((i) => i.name === p.imageInput)!.shape.slice(1) as number[])];
  let done = 0;
  try {
    for await (const bt of batches) {
      if (signal?.aborted) throw new Error('cancelled');
      const n = Math.min(bt.count, p.views);
      const x = new Float32Array(p.views * rowSize);
      x.set(bt.x.subarray(0, n * rowSize));
      const { pos, colmask, anchors } = supconMasks(bt.labels, n, p.views);
      if (!anchors) continue; // no positive pair in this batch: SupCon is undefined, contributes nothing
      const out = await session.run({ [p.imageInput]: tensor('float32', inputDims, x), [POS]: tensor('float32', [p.views, p.views], pos), [COLMASK]: tensor('float32', [p.views, p.views], colmask) });
      for (const w of p.weights) {
        const gdata = out[p.grads.get(w.name)!].data as Float32Array;
        const s = sums.get(w.name)!;
        for (let i = 0; i < s.length; i++) s[i] += gdata[i];
      }
      done += n;
      onBatch?.(done);
    }
  } finally {
    await session.release();
  }
  return sums;
}

/**
 * Per-neuron top-K of |G| (METHODS.md §GPS step 2): for every row of the [rows, cols] view, the K columns
 * with the largest |G|, ties broken by the lowest column index. Returns row-major [rows, K] column indices,
 * in rank order. (The official code uses numpy argsort, whose tie order is unspecified; the spec fixes it.)
 */
export function topKPerRow(g: ArrayLike<number>, w: Pick<WeightMatrix, 'rows' | 'cols' | 'layout'>, k: number): Int32Array {
  // callers check K against the narrowest matrix and G for NaN (GPS prepare); here they are programming errors
  if (!Number.isInteger(k) || k < 1 || k > w.cols) throw new Error(`topKPerRow: K = ${k} does not fit rows of ${w.cols} entries`);
  const K = k;
  const idx = new Int32Array(w.rows * K);
  const taken = new Uint8Array(w.cols);
  for (let r = 0; r < w.rows; r++) {
    taken.fill(0);
    for (let j = 0; j < K; j++) {
      let best = -1;
      let bestVal = -1;
      for (let c = 0; c < w.cols; c++) {
        if (taken[c]) continue;
        const v = Math.abs(g[flatIndex(w, r, c)]);
        if (v > bestVal) {
          bestVal = v;
          best = c;
        }
      }
      if (best < 0) throw new Error(`topKPerRow: row ${r} has no finite |G| left to select`);
      taken[best] = 1;
      idx[r * K + j] = best;
    }
  }
  return idx;
}
