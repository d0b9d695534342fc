/**
 * Gradient checks against central finite differences, in float64, run by onnxruntime.
 * Loss = Σ_k ReduceSum(Y_k ⊙ R_k) for fixed random R_k, so every output element matters.
 * Ops without float64 kernels are lowered first (lower-f64.ts), in the forward and the backward.
 */
import { mulberry32 } from '../../util/random';
import { Builder } from '../../ir/builder';
import { cloneModel, emptyGraph, pruneDead, type Attr, type Model } from '../../ir/graph';
import { sizeOf, tensor, type Tensor } from '../../ir/tensor';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../onnx/io';
import { fromOrt, toOrt } from '../../runtime/session';
import { differentiate } from '../differentiate';
import { inferShapes64 } from './f64';
import { lowerF64 } from './lower-f64';

export type Rng = () => number;

/** Value generators for differentiable inputs. */
export const gen = {
  uniform:
    (lo = -1, hi = 1) =>
    (r: Rng) =>
      lo + (hi - lo) * r(),
  /** magnitudes in [lo, hi], random sign: keeps inputs off kinks at 0 (Relu, Abs) */
  awayFromZero:
    (lo = 0.2, hi = 1.5) =>
    (r: Rng) =>
      (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r()),
};

export type InputSpec =
  /** a differentiable float64 input; `distinct` spaces values ≥ 0.05 apart (no near-ties for max) */
  | { dims: number[]; gen?: (r: Rng) => number; distinct?: boolean }
  /** a compile-time constant (initializer): axes, indices, frozen statistics… */
  | { value: Tensor }
  /** an absent optional input */
  | null;

export interface OpCase {
  op: string;
  inputs: InputSpec[];
  attrs?: Record<string, Attr>;
  /** number of outputs the node has (default 1); all float ones enter the loss */
  outputs?: number;
  opset?: number;
  seed?: number;
}

export interface Tolerance {
  /** finite-difference step */
  h: number;
  rtol: number;
  atol: number;
}
export const DEFAULT_TOL: Tolerance = { h: 1e-6, rtol: 1e-6, atol: 1e-6 };

export interface GradcheckReport {
  /** entries compared */
  checked: number;
  /** human-readable mismatches (empty when the check passes) */
  failures: string[];
  /** wrt tensors whose compared gradient entries were all ~0: a vacuous check, not a passing one */
  vanishing: string[];
  /** the differentiated (unlowered) float64 model, for inspection */
  model: Model;
}

function randomTensor(dims: number[], r: Rng, g: (r: Rng) => number = gen.uniform(), distinct = false): Tensor {
  const n = sizeOf(dims);
  if (!distinct)
    return tensor(
      'float64',
      dims,
      Array.from({ length: n }, () => g(r)),
    );
  const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05 + 0.01 * r());
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [vals[i], vals[j]] = [vals[j], vals[i]];
  }
  return tensor('float64', dims, vals);
}

/**
 * Adds loss = Σ ReduceSum(out ⊙ R) over `outs` (fixed random R) to a float64 model; returns its name.
 * Output shapes come from a probe of the model as it is.
 */
export async function addProjectionLoss(m: Model, outs: string[], r: Rng): Promise<string> {
  const shapes = await inferShapes64(m);
  const b = new Builder(m.graph, 'check', 'float64', m.opset);
  const terms = outs.map((o) => {
    const dims = shapes.get(o)!.dims;
    const R = b.constant(randomTensor(dims, r), 'R');
    return b.op('ReduceSum', [b.mul(o, R)], { keepdims: { kind: 'int', value: 0 } });
  });
  const loss = b.sum(terms);
  m.graph.outputs = [{ name: loss, dtype: 'float64', shape: [] }];
  return loss;
}

/**
 * A CPU session with graph optimisations off: the check measures the graph as emitted, and some
 * onnxruntime fusions reject float64 (Relu+Clip fusion fails on a double `min`).
 */
export async function plainSession(m: Model): Promise<{
  run(feeds: Record<string, Tensor>, fetch?: string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}> {
  const s = await ort.InferenceSession.create(encodeModel(m), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  return {
    async run(feeds, fetch) {
      const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)]));
      const out = fetch ? await s.run(inputs, fetch) : await s.run(inputs);
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
    },
    release: () => s.release(),
  };
}

export interface CheckOptions {
  tol?: Tolerance;
  /** entries compared per wrt tensor (all of them when unset) */
  samples?: number;
  seed?: number;
}

/**
 * Differentiates `m` (all float64; every wrt tensor a graph input fed from `feeds`) and compares
 * each gradient with central differences of the loss, evaluated by onnxruntime.
 */
export async function checkGradients(
  m: Model,
  loss: string,
  wrt: string[],
  feeds: Record<string, Tensor>,
  opts: CheckOptions = {},
): Promise<GradcheckReport> {
  const tol = opts.tol ?? DEFAULT_TOL;
  const r = mulberry32(opts.seed ?? 7);
  const forward = cloneModel(m);
  forward.graph.outputs = [{ name: loss, dtype: 'float64', shape: [] }];
  pruneDead(forward.graph);

  const shapes = await inferShapes64(forward);
  const full = cloneModel(forward);
  const grads = differentiate(full.graph, shapes, loss, wrt, { floatType: 'float64', opset: m.opset });
  full.graph.outputs = [
    { name: loss, dtype: 'float64', shape: [] },
    ...wrt.map((w) => ({ name: grads.get(w)!, dtype: 'float64' as const, shape: shapes.get(w)!.dims })),
  ];

  const backward = await plainSession(await lowerF64(full));
  const fwd = await plainSession(await lowerF64(forward));
  const analytic = await backward.run(feeds);
  const lossAt = async (f: Record<string, Tensor>) => Number((await fwd.run(f, [loss]))[loss].data[0]);

  const failures: string[] = [];
  const vanishing: string[] = [];
  let checked = 0;
  for (const w of wrt) {
    const base = feeds[w];
    const g = analytic[grads.get(w)!].data as Float64Array;
    const n = base.data.length;
    const picks = [...Array(n).keys()];
    // a partial Fisher–Yates shuffle: `samples` distinct entries
    const k = opts.samples && opts.samples < n ? opts.samples : n;
    for (let j = 0; j < k && k < n; j++) {
      const t = j + Math.floor(r() * (n - j));
      [picks[j], picks[t]] = [picks[t], picks[j]];
    }
    picks.length = k;
    if (picks.every((i) => Math.abs(g[i]) < 1e-10)) vanishing.push(w);
    for (const i of picks) {
      const probeAt = async (delta: number) => {
        const data = (base.data as Float64Array).slice();
        data[i] += delta;
        return lossAt({ ...feeds, [w]: { ...base, data } });
      };
      const numeric = ((await probeAt(tol.h)) - (await probeAt(-tol.h))) / (2 * tol.h);
      const err = Math.abs(g[i] - numeric);
      checked++;
      if (!(err <= tol.atol + tol.rtol * Math.max(Math.abs(g[i]), Math.abs(numeric))))
        failures.push(`d loss/d ${w}[${i}]: analytic ${g[i]}, numeric ${numeric} (|Δ| ${err.toExponential(2)})`);
    }
  }
  await backward.release();
  await fwd.release();
  return { checked, failures, vanishing, model: full };
}

/** Gradient check of one op: every differentiable input, every entry. */
export async function gradcheckOp(c: OpCase, opts: CheckOptions = {}): Promise<GradcheckReport> {
  const r = mulberry32(c.seed ?? 1);
  const g = emptyGraph(`check_${c.op}`);
  const feeds: Record<string, Tensor> = {};
  const names = c.inputs.map((spec, i) => {
    if (!spec) return '';
    const name = `in${i}`;
    if ('value' in spec) g.initializers.set(name, spec.value);
    else {
      feeds[name] = randomTensor(spec.dims, r, spec.gen, spec.distinct);
      g.inputs.push({ name, dtype: 'float64', shape: spec.dims });
    }
    return name;
  });
  const outs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `out${k}`);
  g.nodes.push({ name: `node_${c.op}`, op: c.op, domain: '', inputs: names, outputs: outs, attrs: c.attrs ?? {} });
  const m: Model = {
    graph: g,
    opset: c.opset ?? 17,
    extraOpsets: [],
    irVersion: 8,
    producer: 'gradcheck',
    metadata: {},
  };
  g.outputs = outs.map((name) => ({ name, dtype: 'float64', shape: [] }));
  const shapes = await inferShapes64(m);
  const floatOuts = outs.filter((o) => shapes.get(o)?.dtype === 'float64');
  const loss = await addProjectionLoss(m, floatOuts, r);
  return checkGradients(m, loss, Object.keys(feeds), feeds, { ...opts, seed: c.seed ?? opts.seed });
}
