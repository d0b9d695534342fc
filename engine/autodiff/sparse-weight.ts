/**
 * A frozen weight plus trainable entries scattered by a constant one-hot tensor, W' = W0 + Σ_k D_k ⊙ S_k, read only
 * by one product y = x·M (MatMul, or Gemm without transA; M = W' or W'ᵀ): GPS's masked weight
 * (methods/gps/index.ts maskedWeight), where D_k holds one trained value per output neuron and S_k marks the input
 * it adds to. The generic rules would form the dense ∂L/∂W' = xᵀ·∂y (a full weight-gradient GEMM) and keep K entries
 * per neuron; here ∂D_k[o] = Σ_n x[n, i_k(o)]·∂y[n, o] is a gather of the selected input rows of xᵀ and a row-wise
 * product, never the dense gradient. ∂x comes from the product's own rule with W'.
 */
import type { Builder } from '../ir/builder';
import { attrFloat, attrInt, int, type Graph, type Node } from '../ir/graph';
import { tensor } from '../ir/tensor';
import { soleReaders } from './helpers';

export interface SparseWeight {
  /** D, broadcast against S along the output axis only */
  d: string;
  dDims: number[];
  /** i_k(o), k-major: the input row of M that neuron o's k-th entry sits in */
  rows: number[];
  k: number;
  out: number;
  /** the consumer Gemm's alpha */
  scale: number;
  /** the nodes from D ⊙ S to W', differentiated here as one */
  chain: Node[];
}

/** Constant axes of a ReduceSum, from its input (opset ≥ 13) or attribute. */
function reduceAxes(g: Graph, n: Node): number[] | undefined {
  if (n.inputs[1]) {
    const t = g.initializers.get(n.inputs[1]);
    return t ? Array.from(t.data as BigInt64Array | Int32Array, Number) : undefined;
  }
  const a = n.attrs.axes;
  return a?.kind === 'ints' ? a.value : undefined;
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
  for (const mul of g.nodes) {
    if (mul.op !== 'Mul' || mul.domain) continue;
    const sAt = mul.inputs.findIndex((i) => g.initializers.has(i) && !active(i));
    const [s, d] = [mul.inputs[sAt], mul.inputs[1 - sAt]];
    if (sAt < 0 || !d || !active(d)) continue;
    const S = g.initializers.get(s)!;
    const dd = dims(d);
    const red = only(mul.outputs[0]);
    if (S.dims.length !== 3 || !dd || dd.length !== 3 || dd[0] !== S.dims[0]) continue;
    if (!red || red.op !== 'ReduceSum' || attrInt(red, 'keepdims', 1) !== 0 || reduceAxes(g, red)?.join() !== '0')
      continue;
    const add = only(red.outputs[0]);
    if (!add || add.op !== 'Add') continue;
    const w0 = add.inputs[0] === red.outputs[0] ? add.inputs[1] : add.inputs[0];
    if (!w0 || active(w0)) continue;
    const consumer = only(add.outputs[0]);
    if (!consumer || consumer.inputs[1] !== add.outputs[0] || consumer.inputs[0] === add.outputs[0]) continue;
    let transposed = false;
    let scale = 1;
    if (consumer.op === 'Gemm') {
      if (attrInt(consumer, 'transA', 0)) continue;
      transposed = attrInt(consumer, 'transB', 0) === 1;
      scale = attrFloat(consumer, 'alpha', 1);
    } else if (consumer.op !== 'MatMul') continue;
    // M = W' [in, out], or W'ᵀ with W' [out, in]; D must vary along the output axis only
    const [K, a, c] = S.dims;
    const out = transposed ? a : c;
    const outAxis = transposed ? 1 : 2;
    if (dd[outAxis] !== out || dd[3 - outAxis] !== 1) continue;
    const rows = oneHotRows(S.data as Float32Array, K, a, c, transposed);
    if (!rows) continue;
    found.set(consumer, { d, dDims: dd, rows, k: K, out, scale, chain: [mul, red, add] });
  }
  return found;
}

/** For each k and output column o of M, the one input row i with S_k'[i, o] = 1; undefined unless exactly one. */
function oneHotRows(s: Float32Array, K: number, a: number, c: number, transposed: boolean): number[] | undefined {
  const out = transposed ? a : c;
  const rows = new Array<number>(K * out).fill(-1);
  for (let k = 0; k < K; k++)
    for (let i = 0; i < a; i++)
      for (let j = 0; j < c; j++) {
        const v = s[k * a * c + i * c + j];
        if (v === 0) continue;
        const [row, col] = transposed ? [j, i] : [i, j];
        if (v !== 1 || rows[k * out + col] !== -1) return undefined;
        rows[k * out + col] = row;
      }
  return rows.includes(-1) ? undefined : rows;
}

/**
 * ∂D for y = x·M, x [..., in] and ∂y [..., out]: the selected rows of xᵀ times the rows of ∂yᵀ, summed. Gathering
 * the columns of x instead (no transposes) was slower in the training step: onnxruntime's Gather along the last axis
 * copies element by element (bench/results/train.md, Notes).
 */
export function sparseGrad(b: Builder, sw: SparseWeight, x: string, dy: string, xDims: number[]): string {
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
