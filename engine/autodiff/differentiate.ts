/**
 * Reverse-mode automatic differentiation over an ONNX graph with static shapes.
 * Emits standard-domain ONNX ops into the same graph, one rule per op (rules/index.ts).
 * Gradients only flow where a trainable tensor is upstream, so frozen weights get none.
 */
import { AttuneError } from '../errors';
import { Builder } from '../ir/builder';
import { int, type Graph, type Node } from '../ir/graph';
import type { ShapeMap } from '../ir/fold';
import { isFloat, tensor, type DType } from '../ir/tensor';
import type { GradContext } from './rule';
import { GRADIENT_RULES } from './rules';
import { soleReaders } from './helpers';
import { lowRankGrads, lowRankWeights } from './low-rank';
import { perSampleGrad, perSampleWeightAgain, perSampleWeights } from './per-sample';
import { sparseGrad, sparseWeights } from './sparse-weight';

export interface DifferentiateOptions {
  /** float type of constants the rules create (float64 in gradient checks) */
  floatType?: DType;
  /** name prefix of emitted tensors */
  prefix?: string;
  /** tensor holding dLoss/dloss (default: a constant 1); lets callers scale or chain */
  seed?: string;
  /** the model's opset (default 17): emitted ops use the matching attribute/input forms */
  opset?: number;
}

/** Ops differentiation cannot pass through: their outputs are treated as constants. */
const NON_DIFFERENTIABLE = new Set([
  'Shape',
  'Size',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'ConstantOfShape',
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'OneHot',
  // piecewise constant: zero gradient almost everywhere
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'IsNaN',
  'IsInf',
  'Xor',
  'Range',
  'EyeLike',
  'Bernoulli',
  'Multinomial',
]);

/**
 * Ops of `g` that training cannot differentiate through (the model check reports them): ops with no gradient rule,
 * or from a custom domain, other than those whose outputs are constants for differentiation.
 */
export function unsupportedOps(g: Graph): string[] {
  const needsNone = (op: string) => NON_DIFFERENTIABLE.has(op) || op === 'Constant';
  const bad = g.nodes.filter((n) => !needsNone(n.op) && (n.domain || !(n.op in GRADIENT_RULES)));
  return [...new Set(bad.map((n) => (n.domain ? `${n.domain}.${n.op}` : n.op)))];
}

/** A scalar initializer's value, if `name` is one. */
function scalarValue(g: Graph, name: string): number | undefined {
  const t = g.initializers.get(name);
  return t && t.data.length === 1 && isFloat(t.dtype) ? Number(t.data[0]) : undefined;
}

const near = (v: number | undefined, want: number) => v !== undefined && Math.abs(v - want) <= 1e-6 * Math.abs(want);

/**
 * torch's exported exact GELU, y = (x·(erf(x/√2) + 1))·0.5: its five nodes, each intermediate read only by the next.
 * Differentiated as one op (∂y/∂x = Φ(x) + x·φ(x), from x alone), the backward reads no intermediate, so
 * onnxruntime fuses the forward into one Gelu kernel, and the backward is one chain instead of five rules' worth.
 */
function geluChains(g: Graph): Map<Node, { x: string; chain: Node[] }> {
  const sole = soleReaders(g);
  const only = (t: string, op: string): Node | undefined => (sole(t)?.op === op ? sole(t) : undefined);
  const other = (n: Node, t: string) => (n.inputs[0] === t ? n.inputs[1] : n.inputs[1] === t ? n.inputs[0] : undefined);
  const found = new Map<Node, { x: string; chain: Node[] }>();
  for (const div of g.nodes) {
    if (
      div.domain ||
      !(
        (div.op === 'Div' && near(scalarValue(g, div.inputs[1]), Math.SQRT2)) ||
        (div.op === 'Mul' && near(scalarValue(g, div.inputs[1]), Math.SQRT1_2))
      )
    )
      continue;
    const x = div.inputs[0];
    const erf = only(div.outputs[0], 'Erf');
    const add = erf && only(erf.outputs[0], 'Add');
    if (!erf || !add || !near(scalarValue(g, other(add, erf.outputs[0]) ?? ''), 1)) continue;
    const mul = only(add.outputs[0], 'Mul');
    if (!mul || other(mul, add.outputs[0]) !== x) continue;
    const half = only(mul.outputs[0], 'Mul');
    if (!half || !near(scalarValue(g, other(half, mul.outputs[0]) ?? ''), 0.5)) continue;
    found.set(half, { x, chain: [div, erf, add, mul] });
  }
  return found;
}

/**
 * Gradients that are zero-padded pieces of one tensor tiling one axis (the Slice rule's Pads for q, k and v sliced
 * from one projection): their sum is the Concat of the pieces, one copy instead of a full-size Pad per piece and a Sum.
 * Returns undefined when `parts` are not exactly that.
 */
function tiled(g: Graph, parts: string[], dims: number[] | undefined): string | undefined {
  if (!dims) return undefined;
  const rank = dims.length;
  const wanted = new Set(parts);
  const byOutput = new Map<string, Node>();
  for (const n of g.nodes) if (wanted.has(n.outputs[0])) byOutput.set(n.outputs[0], n);
  const pieces: { src: string; begin: number; len: number; axis: number }[] = [];
  for (const p of parts) {
    const pad = byOutput.get(p);
    const pads = pad?.op === 'Pad' && pad.inputs.length === 2 ? g.initializers.get(pad.inputs[1]) : undefined;
    if (!pad || !pads || pads.data.length !== 2 * rank) return undefined;
    const v = Array.from(pads.data as ArrayLike<number | bigint>, Number);
    const axes = [...Array(rank).keys()].filter((a) => v[a] !== 0 || v[a + rank] !== 0);
    if (axes.length !== 1 || v.some((x) => x < 0)) return undefined;
    const a = axes[0];
    pieces.push({ src: pad.inputs[0], begin: v[a], len: dims[a] - v[a] - v[a + rank], axis: a });
  }
  const axis = pieces[0].axis;
  if (pieces.some((p) => p.axis !== axis)) return undefined;
  pieces.sort((p, q) => p.begin - q.begin);
  let at = 0;
  for (const p of pieces) {
    if (p.begin !== at) return undefined;
    at += p.len;
  }
  if (at !== dims[axis]) return undefined;
  const out = `${parts[0]}/tiled`;
  g.nodes.push({
    name: `${out}/concat`,
    op: 'Concat',
    domain: '',
    inputs: pieces.map((p) => p.src),
    outputs: [out],
    attrs: { axis: int(axis) },
  });
  return out;
}

/**
 * Appends the backward pass for scalar `loss` with respect to `wrt` and returns, per wrt tensor,
 * the name of its gradient. `shapes` must hold every forward tensor's static shape.
 */
export function differentiate(
  g: Graph,
  shapes: ShapeMap,
  loss: string,
  wrt: string[],
  opts: DifferentiateOptions = {},
): Map<string, string> {
  const b = new Builder(g, opts.prefix ?? 'grad', opts.floatType ?? 'float32', opts.opset ?? 17);
  const forward = [...g.nodes];

  // tensors that depend on something trainable
  const active = new Set<string>(wrt);
  for (const n of forward) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (n.inputs.some((i) => i && active.has(i)))
      for (const o of n.outputs) if (o && isFloat(shapes.get(o)?.dtype ?? 'float32')) active.add(o);
  }
  // tensors the loss depends on
  const prod = new Map<string, Node>();
  for (const n of forward) for (const o of n.outputs) prod.set(o, n);
  const toLoss = new Set<string>([loss]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i];
    if (n.outputs.some((o) => toLoss.has(o))) for (const inp of n.inputs) if (inp) toLoss.add(inp);
  }
  if (!active.has(loss)) throw new Error(`loss ${loss} does not depend on any trainable tensor`);

  const grads = new Map<string, string[]>();
  const seed =
    opts.seed ?? b.constant(tensor(shapes.get(loss)?.dtype ?? 'float32', shapes.get(loss)?.dims ?? [], [1]), 'dloss');
  grads.set(loss, [seed]);
  const gradOf = (t: string): string | null => {
    const list = grads.get(t);
    if (!list || list.length === 0) return null;
    if (list.length > 1) grads.set(t, [tiled(g, list, shapes.get(t)?.dims) ?? b.sum(list)]);
    return grads.get(t)![0];
  };
  const shapeOf = (name: string): number[] => {
    const s = shapes.get(name);
    if (!s) throw new Error(`no static shape for ${name}`);
    return s.dims;
  };

  const gelus = geluChains(g);
  const lowRanks = lowRankWeights(g, (t) => active.has(t) && toLoss.has(t) && !prod.has(t));
  const reaches = (t: string) => active.has(t) && toLoss.has(t);
  const dimsOf = (t: string) => shapes.get(t)?.dims;
  const perSample = perSampleWeights(g, reaches, dimsOf);
  const sparse = sparseWeights(g, reaches, dimsOf);
  const skip = new Set(
    [...gelus.values(), ...lowRanks.values(), ...perSample.values(), ...sparse.values()].flatMap((c) => c.chain),
  );
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i];
    if (NON_DIFFERENTIABLE.has(n.op) || skip.has(n)) continue;
    const gelu = gelus.get(n);
    if (gelu) {
      const dy = gradOf(n.outputs[0]);
      if (!dy || !active.has(gelu.x)) continue;
      // ∂y/∂x = Φ(x) + x·φ(x) = 0.5·(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π)
      const x = gelu.x;
      const cdf2 = b.add(b.op('Erf', [b.mul(x, b.scalar(Math.SQRT1_2))]), b.scalar(1));
      const xpdf = b.mul(b.mul(x, b.scalar(2 / Math.sqrt(2 * Math.PI))), b.exp(b.mul(b.mul(x, x), b.scalar(-0.5))));
      const dx = b.mul(b.mul(dy, b.scalar(0.5)), b.add(cdf2, xpdf));
      const list = grads.get(x);
      if (list) list.push(dx);
      else grads.set(x, [dx]);
      continue;
    }
    const lowRank = lowRanks.get(n);
    const perRow = perSample.get(n);
    const scattered = sparse.get(n);
    // a low-rank, per-sample or sparse weight's parts get their gradients below; the product's rule gives ∂x (and
    // the bias's)
    const needs = n.inputs.map(
      (inp, k) => !!inp && active.has(inp) && toLoss.has(inp) && !((lowRank || perRow || scattered) && k === 1),
    );
    const dy = n.outputs.map((o) => (o ? gradOf(o) : null));
    if (scattered && dy[0]) {
      const dd = sparseGrad(b, scattered, n.inputs[0], dy[0], shapeOf(n.inputs[0]));
      (grads.get(scattered.d) ?? grads.set(scattered.d, []).get(scattered.d)!).push(dd);
    }
    if (perRow && dy[0]) {
      const [xd, yd] = [shapeOf(n.inputs[0]), shapeOf(n.outputs[0])];
      const dw = perSampleGrad(b, perRow, n.inputs[0], dy[0], xd[xd.length - 1], yd[yd.length - 1]);
      (grads.get(perRow.w) ?? grads.set(perRow.w, []).get(perRow.w)!).push(dw);
    }
    if (lowRank && dy[0]) {
      const { dA, dB } = lowRankGrads(b, lowRank, n.inputs[0], dy[0], shapeOf(n.inputs[0]), shapeOf(n.outputs[0]));
      for (const [t, d] of [
        [lowRank.a, dA],
        [lowRank.b, dB],
      ] as const)
        (grads.get(t) ?? grads.set(t, []).get(t)!).push(d);
    }
    if (!needs.some(Boolean)) continue;
    if (dy.every((d) => d === null)) continue;
    const rule = GRADIENT_RULES[n.op];
    if (!rule || n.domain)
      throw new AttuneError(
        'no-gradient',
        `Attune cannot train through the operation ${n.domain ? n.domain + '.' : ''}${n.op} (node "${n.name}").`,
        'Choose the linear probe (it trains only the new head), or a method that trains only layers after this node.',
        { op: n.op, node: n.name },
      );
    // ∂x of a per-sample weight's product reads W_s built again, not the forward's (per-sample.ts)
    const again = perRow ? perSampleWeightAgain(b, perRow) : undefined;
    const ctx: GradContext = {
      node: again ? { ...n, inputs: [n.inputs[0], again] } : n,
      b,
      dy,
      needs,
      shape: (name) => shapeOf(name === again ? n.inputs[1] : name),
      dtype: (name) => shapes.get(name)?.dtype ?? 'float32',
      value: (name) => g.initializers.get(name),
    };
    const dx = rule(ctx);
    n.inputs.forEach((inp, k) => {
      const d = dx[k];
      if (!needs[k] || !d) return;
      const list = grads.get(inp);
      if (list) list.push(d);
      else grads.set(inp, [d]);
    });
  }
  const result = new Map<string, string>();
  for (const w of wrt) {
    const d = gradOf(w);
    if (d) result.set(w, d);
    else {
      // no path from this tensor to the loss: its gradient is zero
      const s = shapes.get(w)!;
      result.set(w, b.constant(tensor(s.dtype, s.dims), 'zero_grad'));
    }
  }
  return result;
}
