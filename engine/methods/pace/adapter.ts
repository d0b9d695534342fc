/**
 * PACE's base adapter "LoRAmul + VPTadd" (METHODS.md §PACE; MaxwellYaoNi/PACE Vision/pace/residual_adapters.py):
 *   Δh(x) = x·(W0 ⊙ (Wd·Wu))ᵀ + W0·p + b0 ⊙ δb,  p = Pd·Pu,
 * its initial tensors, its graph ops and its exact merge W = W0 ⊙ (1 + Wd·Wu), b = b0 ⊙ (1 + δb) + W0·p.
 */
import type { Builder } from '../../ir/builder';
import { int, producers, replaceUses, type Graph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { deriveSeed, mulberry32 } from '../../util/random';
import { setOwnedInput, type LinearLayer } from '../layers';
import { mergeByName } from '../method';

export const paceNames = (w: string) => ({
  wd: `${w}::pace_Wd`,
  wu: `${w}::pace_Wu`,
  pd: `${w}::pace_Pd`,
  pu: `${w}::pace_Pu`,
  db: `${w}::pace_db`,
});

/** xavier_uniform_ for a [fanOut, fanIn] torch parameter. */
function xavier(rows: number, cols: number, rng: () => number): Float32Array {
  const bound = Math.sqrt(6 / (rows + cols));
  return Float32Array.from({ length: rows * cols }, () => (rng() * 2 - 1) * bound);
}

/**
 * Initial adapter tensors as LoRAmul_VPTadd_Linear: Wd [out, r], Pd [in, r], δb [out] zeros; Wu [r, in] and
 * Pu [r, 1] xavier_uniform, so Δh = 0 at step 0. Layers without a bias get only the LoRAmul part.
 */
export function initAdapters(layers: LinearLayer[], r: number, seed: number): Map<string, Tensor> {
  const init = new Map<string, Tensor>();
  layers.forEach((l, i) => {
    const n = paceNames(l.weight);
    const rng = mulberry32(deriveSeed(seed, 0x9ace, 1, i));
    init.set(n.wd, tensor('float32', [l.outFeatures, r]));
    init.set(n.wu, tensor('float32', [r, l.inFeatures], xavier(r, l.inFeatures, rng)));
    if (l.bias) {
      init.set(n.pd, tensor('float32', [l.inFeatures, r]));
      init.set(n.pu, tensor('float32', [r, 1], xavier(r, 1, rng)));
      init.set(n.db, tensor('float32', [l.outFeatures]));
    }
  });
  return init;
}

/** Host merge: W = W0 ⊙ (1 + Wd·Wu), b = b0 ⊙ (1 + δb) + W0·p (float64, rounded once). */
export function mergePace(
  l: Pick<LinearLayer, 'layout' | 'inFeatures' | 'outFeatures'>,
  w0: Tensor,
  b0: Tensor | undefined,
  t: Record<'wd' | 'wu' | 'pd' | 'pu' | 'db', Tensor>,
): { w: Tensor; b?: Tensor } {
  const [inF, out] = [l.inFeatures, l.outFeatures];
  const r = t.wd.dims[1];
  const Wd = t.wd.data as Float32Array;
  const Wu = t.wu.data as Float32Array;
  const W0 = w0.data as Float32Array;
  const at = (o: number, i: number) => (l.layout === 'out-in' ? o * inF + i : i * out + o);
  const w = new Float32Array(W0.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inF; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += Wd[o * r + k] * Wu[k * inF + i];
      w[at(o, i)] = W0[at(o, i)] * (1 + s);
    }
  if (!b0) return { w: { dtype: 'float32', dims: [...w0.dims], data: w } };
  const p = new Float64Array(inF);
  const Pd = t.pd.data as Float32Array;
  const Pu = t.pu.data as Float32Array;
  for (let i = 0; i < inF; i++) for (let k = 0; k < r; k++) p[i] += Pd[i * r + k] * Pu[k];
  const B0 = b0.data as Float32Array;
  const db = t.db.data as Float32Array;
  const b = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inF; i++) s += W0[at(o, i)] * p[i];
    b[o] = B0[o] * (1 + db[o]) + s;
  }
  return { w: { dtype: 'float32', dims: [...w0.dims], data: w }, b: { dtype: 'float32', dims: [...b0.dims], data: b } };
}

/** The node that adds a layer's bias: the Gemm itself, or the Add producing its output. */
function biasReader(g: Graph, l: LinearLayer): string {
  return l.node.op === 'Gemm' ? l.node.name : producers(g).get(l.output)!.name;
}

/** The deployable model: every adapted layer merged into its weight and bias, no adapter op left. */
export function mergeAdapters(
  backbone: Model,
  trained: Map<string, Tensor>,
  layers: LinearLayer[],
  init: Map<string, Tensor>,
): Model {
  const merged = mergeByName(backbone, trained);
  const init0 = backbone.graph.initializers;
  for (const l of layers) {
    const n = paceNames(l.weight);
    const get = (k: string) => trained.get(k) ?? init.get(k) ?? tensor('float32', [0]);
    const m = mergePace(l, init0.get(l.weight)!, l.bias ? init0.get(l.bias) : undefined, {
      wd: get(n.wd),
      wu: get(n.wu),
      pd: get(n.pd),
      pu: get(n.pu),
      db: get(n.db),
    });
    setOwnedInput(merged, l.node.name, l.weight, m.w);
    if (l.bias && m.b) setOwnedInput(merged, biasReader(backbone.graph, l), l.bias, m.b);
  }
  return merged;
}

/** The VPT shift W0·p + b0 ⊙ δb [out] of a layer with a bias. */
function biasShift(b: Builder, l: LinearLayer): string {
  const n = paceNames(l.weight);
  const p = b.matmul(n.pd, n.pu); // [in, 1]
  const w0p =
    l.layout === 'out-in'
      ? b.reshape(b.matmul(l.weight, p), [l.outFeatures])
      : b.reshape(b.matmul(b.reshape(p, [1, l.inFeatures]), l.weight), [l.outFeatures]);
  return b.add(w0p, b.mul(l.bias!, n.db));
}

/** W0 ⊙ (Wd·Wu) in the layer's storage layout. */
function adapterWeight(b: Builder, l: LinearLayer): string {
  const n = paceNames(l.weight);
  const P = b.matmul(n.wd, n.wu); // [out, in]
  return b.mul(l.weight, l.layout === 'out-in' ? P : b.transpose(P, [1, 0]));
}

/** Δh for one layer, as graph ops in the layer's own layout (a second product: for a noisy layer, Δh is scaled). */
export function adapterOutput(b: Builder, l: LinearLayer): string {
  const x = l.node.inputs[0];
  const w = adapterWeight(b, l);
  const lin = l.layout === 'out-in' ? b.op('Gemm', [x, w], { transB: int(1) }) : b.matmul(x, w);
  return l.bias ? b.add(lin, biasShift(b, l)) : lin;
}

/**
 * A layer without noise as one product: its weight input becomes W0 + W0 ⊙ (Wd·Wu) (= the export's merged weight,
 * rounded the same way as h0 + Δh up to float32 summation order) and the shift is added to its output.
 * Returns the value that carries the layer's output.
 */
export function mergeIntoLayer(g: Graph, b: Builder, l: LinearLayer): string {
  l.node.inputs[1] = b.add(l.weight, adapterWeight(b, l));
  if (!l.bias) return l.output;
  const y = b.add(l.output, biasShift(b, l));
  const adder = g.nodes[g.nodes.length - 1];
  replaceUses(g, l.output, y);
  adder.inputs[0] = l.output;
  return y;
}

/**
 * A noisy layer h = x·W0ᵀ + b0 + z ⊙ Δh (z per sample and output channel) as ONE batched product with a per-sample
 * merged weight: h_s = x_s·(W0 + diag(z_s)·W')ᵀ + b0 + z_s ⊙ c, W' = W0 ⊙ (Wd·Wu), c the VPT shift. Building the
 * rows weights costs about 1/tokens of the product; the backward is one batched ∂x and one batched ∂W_s (reduced over
 * samples with z into ∂W'), where the two-product form costs two ∂x products and a ∂W' product.
 * `view` is the layer output as [a, b, out] with the batch of `rows` on axis `batchAxis` (0 or 1); returns the new
 * output (in the layer's output shape), or undefined when the layer does not have that form.
 */
export function perSampleLayer(
  g: Graph,
  b: Builder,
  l: LinearLayer,
  adapted: LinearLayer,
  o: { view: number[]; batchAxis: number; rows: number; outShape: number[]; noise: string },
): string | undefined {
  const { view, batchAxis, rows } = o;
  if (view.length !== 3 || batchAxis > 1 || view[batchAxis] !== rows) return undefined;
  let x = b.reshape(l.node.inputs[0], [view[0], view[1], l.inFeatures]);
  if (batchAxis === 1) x = b.transpose(x, [1, 0, 2]); // [rows, tokens, in]
  const z = b.reshape(o.noise, [rows, 1, l.outFeatures]);
  const w0 = l.layout === 'in-out' ? l.weight : b.transpose(l.weight, [1, 0]); // [in, out]
  const wa = adapterWeight(b, l);
  const wp = l.layout === 'in-out' ? wa : b.transpose(wa, [1, 0]);
  const ws = b.add(w0, b.mul(wp, z)); // [rows, in, out]
  let y = b.matmul(x, ws); // [rows, tokens, out]
  // b0 + z ⊙ c summed at [rows, 1, out] first: one Add over the [rows, tokens, out] output instead of two
  const shift = adapted.bias ? b.mul(z, biasShift(b, adapted)) : undefined;
  const bias = shift && l.bias ? b.add(shift, l.bias) : (shift ?? l.bias);
  if (bias) y = b.add(y, bias);
  if (batchAxis === 1) y = b.transpose(y, [1, 0, 2]);
  y = b.reshape(y, o.outShape);
  replaceUses(g, l.output, y);
  return y;
}
