/**
 * A frozen weight with trainable entries scattered into it, W' = Reshape(ScatterND(W0 flat, I, U)), read only by one
 * product y = x·M (MatMul, or Gemm without transA; M = W' or W'ᵀ) or one 1×1 convolution (group 1, no padding, a
 * product per position): GPS's masked weight (methods/gps/index.ts maskedWeight), where entry e = k·out + o of U
 * (U = W0[I] + δ) is neuron o's k-th selected weight. The generic rules would form the dense ∂L/∂W' (a full
 * weight-gradient GEMM, or convolution) and gather K entries per neuron from it; here
 * ∂U[k·out + o] = Σ_n x[n, i_k(o)]·∂y[n, o] (n over rows, or images and positions) is a gather of the selected inputs
 * and a row-wise product, never the dense gradient. ∂x comes from the product's own rule with W'.
 */
import type { Builder } from '../ir/builder';
import { attrFloat, attrInt, attrString, int, type Graph, type Node } from '../ir/graph';
import { tensor } from '../ir/tensor';
import { soleReaders } from './helpers';
import { convGeometry, sampledAtStrides } from './rules/conv';

export interface SparseWeight {
  /** U: one trained value per selected entry, k-major */
  d: string;
  dDims: number[];
  /** i_k(o), k-major: the input row of M that neuron o's k-th entry sits in */
  rows: number[];
  k: number;
  out: number;
  /** the consumer Gemm's alpha */
  scale: number;
  /** a 1×1 convolution's strides (its input is sampled at them); absent for a MatMul or Gemm */
  convStrides?: number[];
  /** the ScatterND and the Reshape that form W', differentiated here as one */
  chain: Node[];
}

/**
 * Sparse weights of `g`, keyed by the product that reads them. `active(t)`: t depends on a trainable tensor and
 * reaches the loss; `dims(t)`: its static shape.
 */
export function sparseWeights(
  g: Graph,
  active: (t: string) => boolean,
  dims: (t: string) => number[] | undefined,
): Map<Node, SparseWeight> {
  const only = soleReaders(g);
  const found = new Map<Node, SparseWeight>();
  for (const scatter of g.nodes) {
    if (scatter.op !== 'ScatterND' || scatter.domain || attrString(scatter, 'reduction', 'none') !== 'none') continue;
    const [data, idxName, u] = scatter.inputs;
    const I = g.initializers.get(idxName);
    const ud = dims(u);
    if (!data || active(data) || !I || I.dims.length !== 2 || I.dims[1] !== 1 || !u || !active(u)) continue;
    if (!ud || ud.length !== 1 || ud[0] !== I.dims[0]) continue;
    const reshape = only(scatter.outputs[0]);
    if (!reshape || reshape.op !== 'Reshape') continue;
    const wd = dims(reshape.outputs[0]);
    const consumer = only(reshape.outputs[0]);
    if (!wd || !consumer || consumer.inputs[1] !== reshape.outputs[0]) continue;
    if (consumer.inputs[0] === reshape.outputs[0]) continue;
    let transposed = false;
    let scale = 1;
    let convStrides: number[] | undefined;
    if (consumer.op === 'Conv') {
      // W' [out, in, 1, …]: a product per position (flat index o·in + i, as [out, in])
      const xd = dims(consumer.inputs[0]);
      if (!xd || wd.length < 3 || wd.slice(2).some((d) => d !== 1) || attrInt(consumer, 'group', 1) !== 1) continue;
      const geo = convGeometry(xd.slice(2), consumer, wd.slice(2));
      if (geo.pads.some((p) => p !== 0)) continue;
      transposed = true;
      convStrides = geo.strides;
    } else if (wd.length !== 2) continue;
    else if (consumer.op === 'Gemm') {
      if (attrInt(consumer, 'transA', 0)) continue;
      transposed = attrInt(consumer, 'transB', 0) === 1;
      scale = attrFloat(consumer, 'alpha', 1);
    } else if (consumer.op !== 'MatMul') continue;
    // M = W' [in, out], or W'ᵀ with W' [out, in]
    const [a, c] = wd;
    const out = transposed ? a : c;
    const E = ud[0];
    if (E % out !== 0) continue;
    const flat = Array.from(I.data as BigInt64Array, Number);
    if (flat.some((f) => f < 0 || f >= a * c)) continue;
    const rows = entryRows(flat, out, c, transposed);
    if (!rows) continue;
    found.set(consumer, { d: u, dDims: ud, rows, k: E / out, out, scale, convStrides, chain: [scatter, reshape] });
  }
  return found;
}

/**
 * For entry e (flat index f into W' [a, c]), the input row of M it sits in; undefined unless e = k·out + o and no
 * two entries share a place (ScatterND would keep one of them).
 */
function entryRows(flat: number[], out: number, c: number, transposed: boolean): number[] | undefined {
  if (new Set(flat).size !== flat.length) return undefined;
  const rows: number[] = [];
  for (let e = 0; e < flat.length; e++) {
    const [row, col] = [Math.floor(flat[e] / c), flat[e] % c];
    const [input, neuron] = transposed ? [col, row] : [row, col];
    if (neuron !== e % out) return undefined;
    rows.push(input);
  }
  return rows;
}

/**
 * ∂D for y = x·M, x [..., in] and ∂y [..., out]: the selected rows of xᵀ times the rows of ∂yᵀ, summed. Gathering
 * the columns of x instead (no transposes) was slower in the training step: onnxruntime's Gather along the last axis
 * copies element by element (bench/results/train.md, Notes).
 */
export function sparseGrad(b: Builder, sw: SparseWeight, x: string, dy: string, xDims: number[]): string {
  if (sw.convStrides) return sparseConvGrad(b, sw, sw.convStrides, x, dy, xDims);
  const inF = xDims[xDims.length - 1];
  const n = xDims.slice(0, -1).reduce((a, c) => a * c, 1);
  const xt = b.transpose(b.reshape(x, [n, inF]), [1, 0]); // [in, n]
  const rows = b.constant(tensor('int64', [sw.rows.length], sw.rows), 'sparse_rows');
  const picked = b.op('Gather', [xt, rows], { axis: int(0) }); // [K·out, n]
  const dyt = b.transpose(b.reshape(dy, [n, sw.out]), [1, 0]); // [out, n]
  let d = b.reduceSum(b.mul(b.reshape(picked, [sw.k, sw.out, n]), b.reshape(dyt, [1, sw.out, n])), [2], false);
  if (sw.scale !== 1) d = b.mul(d, b.scalar(sw.scale));
  return b.reshape(d, sw.dDims);
}

/**
 * ∂D for a 1×1 convolution, x [N, in, *spatial] and ∂y [N, out, *spatial']: the selected input channels (at the
 * strides' positions), each a contiguous run of positions per image, times ∂y's channel, summed over images and
 * positions.
 */
function sparseConvGrad(
  b: Builder,
  sw: SparseWeight,
  strides: number[],
  x: string,
  dy: string,
  xDims: number[],
): string {
  const [N, C] = xDims;
  const outSpatial = xDims.slice(2).map((d, i) => Math.floor((d - 1) / strides[i]) + 1);
  const P = outSpatial.reduce((a, d) => a * d, 1);
  const sampled = sampledAtStrides(b, x, strides, outSpatial);
  const rows = b.constant(tensor('int64', [sw.rows.length], sw.rows), 'sparse_rows');
  const picked = b.op('Gather', [b.reshape(sampled, [N, C, P]), rows], { axis: int(1) }); // [N, K·out, P]
  const d = b.reduceSum(
    b.mul(b.reshape(picked, [N, sw.k, sw.out, P]), b.reshape(dy, [N, 1, sw.out, P])),
    [0, 3],
    false,
  );
  return b.reshape(d, sw.dDims);
}
