/**
 * GPS phase 1 and 2 (METHODS.md §GPS): the supervised-contrastive selection program and per-neuron top-K.
 *
 * Selection loss (SupCon, Khosla et al. 2020, as in FightingFighting/GPS): on L2-normalised backbone
 * features z of 2N views (no head), with τ = 0.07,
 *   L_i = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a∈A(i)} exp(z_i·z_a/τ) ),
 *   L = mean over anchors with |P(i)| > 0.
 * The graph computes L from z and two host-built matrices: `colmask` (A(i): valid views other than i) and
 * `pos` (P(i) / |P(i)| / #anchors), so padded rows and label bookkeeping need no graph ops. The programs give
 * ∂L/∂W for every weight matrix, one view's rows at a time (compileSelectionProgram); the host sums them over one
 * pass of the training set (the official code accumulates `param.grad` the same way) and takes |G| at the end.
 */
import { differentiate } from '../../autodiff/differentiate';
import { FEATURES } from '../../backbone/prepare';
import { Builder } from '../../ir/builder';
import { foldConstants, probe, type ShapeMap } from '../../ir/fold';
import { shapesAfterEdit } from '../../ir/shape-rules';
import { cloneModel, int, pruneDead, topoSort, type Graph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { createSession, type Session } from '../../runtime/session';
import { flatIndex, weightMatrices, type WeightMatrix } from '../layers';
import { AttuneError } from '../../errors';
import type { GpsState } from './weights';

export const SUPCON_TAU = 0.07;
const POS = 'gps_pos';
const COLMASK = 'gps_colmask';
export const SUPCON_LOSS = 'gps_supcon_loss';

export interface SelectionProgram {
  /** the weights' backward at `chunk` rows: image and a seed ∂L/∂features → ∂⟨features, seed⟩/∂W */
  model: Model;
  /** forward to the features at `chunk` rows */
  features: Model;
  /** SupCon on the features of all `views` rows: features, `pos`, `colmask` → ∂L/∂features */
  supcon: Model;
  imageInput: string;
  views: number;
  /** rows per forward/backward: one view of each image (views / 2), so two views' activations are never held at once */
  chunk: number;
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
export function supconMasks(
  labels: ArrayLike<number>,
  count: number,
  M: number,
): { pos: Float32Array; colmask: Float32Array; anchors: number } {
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

const SEED = 'gps_features_seed';
const FEATS = 'gps_features';
const DFEATS = 'gps_features_grad';

/** Static shapes of every tensor of `g` (one probe run), as differentiate needs them. */
async function allShapes(m: Model, feeds: Record<string, Tensor>): Promise<ShapeMap> {
  const { shapes } = await probe(m.graph, m.opset, feeds, () => false);
  for (const [k, t] of m.graph.initializers) shapes.set(k, { dtype: t.dtype, dims: t.dims });
  for (const i of m.graph.inputs) shapes.set(i.name, { dtype: i.dtype, dims: i.shape as number[] });
  return shapes;
}

/**
 * The selection programs for batches of `views` rows. SupCon couples the rows of a batch only through the features,
 * so ∂L/∂W = Σ_rows ∂L/∂f_row · ∂f_row/∂W exactly: the features of both views are computed forward-only, SupCon's
 * ∂L/∂f on the [views, D] features, then each half view's rows run forward and backward with their ∂L/∂f as the
 * seed. That costs one more forward than a single [views] backward but holds a quarter of the rows' activations at
 * a time: half a training batch, so the pass fits where training fits.
 */
export async function compileSelectionProgram(
  prepared: Model,
  views: number,
  tau = SUPCON_TAU,
): Promise<SelectionProgram> {
  const inp = prepared.graph.inputs[0];
  const chunk = views % 4 === 0 ? views / 4 : views % 2 === 0 ? views / 2 : views;
  const dims = [chunk, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const { model, shapes: folded } = await foldConstants(prepared, { [inp.name]: dims });
  const g = model.graph;
  const D = folded.get(FEATURES)!.dims[1];
  const weights = weightMatrices(g);

  // forward only, to the features
  const features = cloneModel(model);
  features.graph.outputs = [{ name: FEATURES, dtype: 'float32', shape: [chunk, D] }];
  pruneDead(features.graph);

  // backward of ⟨features, seed⟩
  const before = new Map(g.nodes.map((n) => [n, n.inputs.join('|')]));
  const b = new Builder(g, 'gps_select', 'float32', model.opset);
  g.inputs.push({ name: SEED, dtype: 'float32', shape: [chunk, D] });
  const loss = b.op('ReduceSum', [b.mul(FEATURES, SEED)], { keepdims: int(0) });
  g.nodes.push({ name: 'gps_loss_id', op: 'Identity', domain: '', inputs: [loss], outputs: [SUPCON_LOSS], attrs: {} });
  g.outputs = [{ name: SUPCON_LOSS, dtype: 'float32', shape: [] }];
  pruneDead(g);
  topoSort(g);
  // the forward's shapes are the fold's; only the loss is new
  const shapes = await shapesAfterEdit(
    model,
    { [inp.name]: tensor('float32', dims), [SEED]: tensor('float32', [chunk, D]) },
    folded,
    before,
  );
  const live = weights.filter((w) => g.initializers.has(w.name));
  const grads = differentiate(
    g,
    shapes,
    SUPCON_LOSS,
    live.map((w) => w.name),
    { prefix: 'gps_grad', opset: model.opset },
  );
  const names = new Map<string, string>();
  for (const w of live) {
    const out = `gps_grad::${w.name}`;
    g.nodes.push({
      name: `${out}/id`,
      op: 'Identity',
      domain: '',
      inputs: [grads.get(w.name)!],
      outputs: [out],
      attrs: {},
    });
    g.outputs.push({ name: out, dtype: 'float32', shape: w.shape });
    names.set(w.name, out);
  }
  g.outputs = g.outputs.filter((o) => o.name !== SUPCON_LOSS);
  topoSort(g);
  pruneDead(g);

  // SupCon and its gradient on the features of all views
  const sg: Graph = {
    name: 'gps_supcon',
    nodes: [],
    initializers: new Map(),
    inputs: [
      { name: FEATS, dtype: 'float32', shape: [views, D] },
      { name: POS, dtype: 'float32', shape: [views, views] },
      { name: COLMASK, dtype: 'float32', shape: [views, views] },
    ],
    outputs: [],
  };
  const supcon: Model = { ...model, graph: sg };
  const sl = supconLoss(new Builder(sg, 'gps_supcon', 'float32', model.opset), FEATS, tau);
  sg.outputs = [{ name: sl, dtype: 'float32', shape: [] }];
  const sShapes = await allShapes(supcon, {
    [FEATS]: tensor('float32', [views, D], new Float32Array(views * D).fill(1)),
    [POS]: tensor('float32', [views, views]),
    [COLMASK]: tensor('float32', [views, views]),
  });
  const dF = differentiate(sg, sShapes, sl, [FEATS], { prefix: 'gps_supcon_grad', opset: model.opset }).get(FEATS)!;
  sg.nodes.push({ name: `${DFEATS}/id`, op: 'Identity', domain: '', inputs: [dF], outputs: [DFEATS], attrs: {} });
  sg.outputs = [{ name: DFEATS, dtype: 'float32', shape: [views, D] }];
  pruneDead(sg);
  return { model, features, supcon, imageInput: inp.name, views, chunk, weights: live, grads: names };
}

export interface Batch {
  x: Float32Array;
  labels: Int32Array;
  count: number;
}

/** The three sessions of a selection program and one batch's ∂L/∂W (views rows, the first `count` real). */
export class SelectionRunner {
  private constructor(
    readonly p: SelectionProgram,
    private readonly sessions: { features: Session; supcon: Session; backward: Session },
  ) {}

  static async create(
    p: SelectionProgram,
    open: (m: Model) => Promise<Session> = (m) => createSession(m, { provider: 'cpu' }),
  ): Promise<SelectionRunner> {
    return new SelectionRunner(p, {
      features: await open(p.features),
      supcon: await open(p.supcon),
      backward: await open(p.model),
    });
  }

  /** ∂L/∂W per weight for one batch (views rows, padded), or null when no image has a positive pair */
  async step(
    x: Float32Array,
    labels: ArrayLike<number>,
    count: number,
    rowSize: number,
  ): Promise<Map<string, Float32Array> | null> {
    const { views, chunk, imageInput } = this.p;
    const n = Math.min(count, views);
    const { pos, colmask, anchors } = supconMasks(labels, n, views);
    if (!anchors) return null;
    const inputDims = [
      chunk,
      ...(this.p.model.graph.inputs.find((i) => i.name === imageInput)!.shape.slice(1) as number[]),
    ];
    const rows = (c: number) => {
      const part = new Float32Array(chunk * rowSize);
      part.set(x.subarray(c * chunk * rowSize, Math.min(n, (c + 1) * chunk) * rowSize));
      return tensor('float32', inputDims, part);
    };
    const chunks = views / chunk;
    const feats: Float32Array[] = [];
    for (let c = 0; c < chunks; c++)
      feats.push(
        (await this.sessions.features.run({ [imageInput]: rows(c) }, [FEATURES]))[FEATURES].data as Float32Array,
      );
    const D = feats[0].length / chunk;
    const all = new Float32Array(views * D);
    feats.forEach((f, c) => all.set(f, c * chunk * D));
    const dF = (
      await this.sessions.supcon.run({
        [FEATS]: tensor('float32', [views, D], all),
        [POS]: tensor('float32', [views, views], pos),
        [COLMASK]: tensor('float32', [views, views], colmask),
      })
    )[DFEATS].data as Float32Array;
    const out = new Map<string, Float32Array>();
    for (let c = 0; c < chunks; c++) {
      if (c * chunk >= n) break; // padding only: its seed is zero
      const res = await this.sessions.backward.run({
        [imageInput]: rows(c),
        [SEED]: tensor('float32', [chunk, D], dF.slice(c * chunk * D, (c + 1) * chunk * D)),
      });
      for (const w of this.p.weights) {
        const gdata = res[this.p.grads.get(w.name)!].data as Float32Array;
        const acc = out.get(w.name);
        if (!acc) out.set(w.name, new Float32Array(gdata));
        else for (let i = 0; i < acc.length; i++) acc[i] += gdata[i];
      }
    }
    return out;
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}

/** One pass over `batches` (rows = views): G = Σ_batches ∂L/∂W per weight, in float64. */
export async function accumulateGradients(
  p: SelectionProgram,
  batches: AsyncIterable<Batch>,
  rowSize: number,
  onBatch?: (done: number) => void,
  signal?: AbortSignal,
): Promise<Map<string, Float64Array>> {
  const runner = await SelectionRunner.create(p);
  const sums = new Map(p.weights.map((w) => [w.name, new Float64Array(w.rows * w.cols)]));
  let done = 0;
  try {
    for await (const bt of batches) {
      if (signal?.aborted) throw new Error('cancelled');
      const grads = await runner.step(bt.x, bt.labels, bt.count, rowSize);
      if (!grads) continue; // no positive pair in this batch: SupCon is undefined, contributes nothing
      for (const w of p.weights) {
        const gdata = grads.get(w.name)!;
        const s = sums.get(w.name)!;
        for (let i = 0; i < s.length; i++) s[i] += gdata[i];
      }
      done += Math.min(bt.count, p.views);
      onBatch?.(done);
    }
  } finally {
    await runner.release();
  }
  return sums;
}

/**
 * Per-neuron top-K of |G| (METHODS.md §GPS step 2): for every row of the [rows, cols] view, the K columns
 * with the largest |G|, ties broken by the lowest column index. Returns row-major [rows, K] column indices,
 * in rank order. (The official code uses numpy argsort, whose tie order is unspecified; the spec fixes it.)
 */
export function topKPerRow(
  g: ArrayLike<number>,
  w: Pick<WeightMatrix, 'rows' | 'cols' | 'layout'>,
  k: number,
): Int32Array {
  // callers check K against the narrowest matrix and G for NaN (GPS prepare); here they are programming errors
  if (!Number.isInteger(k) || k < 1 || k > w.cols)
    throw new Error(`topKPerRow: K = ${k} does not fit rows of ${w.cols} entries`);
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

/**
 * A selection that reads no images: K per neuron from a fixed pseudo-gradient. It has the shapes and the scattered
 * indices of a real one, so what a step costs in time and memory is the same (bench:train; the Method screen's
 * memory estimate); it is never trained.
 */
export function standInSelection(g: Graph, k: number): GpsState {
  checkK(g, k);
  const matrices = weightMatrices(g).map((w) => ({
    ...w,
    idx: Array.from(
      topKPerRow(
        Float64Array.from({ length: w.rows * w.cols }, (_, i) => Math.sin(i * 12.9898)),
        w,
        k,
      ),
    ),
  }));
  return {
    k,
    tau: SUPCON_TAU,
    matrices,
    blockCounts: {},
    selected: matrices.reduce((a, m) => a + m.idx.length, 0),
    totalWeights: matrices.reduce((a, m) => a + m.rows * m.cols, 0),
  };
}

/** K entries per neuron must exist in every matrix: a narrower row would shift every later row's indices. */
export function checkK(g: Graph, k: number): void {
  const narrowest = weightMatrices(g).reduce((a, m) => (m.cols < a.cols ? m : a));
  if (k > narrowest.cols)
    throw new AttuneError(
      'gps-k-too-large',
      `GPS cannot select K = ${k} weights per neuron: ${narrowest.name} has only ${narrowest.cols} weights per neuron.`,
      `Choose K = ${narrowest.cols} or less (GPS's options on the Method screen; attune train: --gps-k).`,
    );
}
