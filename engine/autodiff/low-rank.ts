/**
 * A frozen weight plus a trainable low-rank product, W' = W + s·A·B (or its transpose), read only by one product
 * y = x·W' (MatMul, or Gemm without transA): LoRA's merged form. The generic rules would form the dense ∂L/∂W' =
 * xᵀ·∂y (a full weight-gradient GEMM) and then ∂A, ∂B from it; here ∂A and ∂B are rank-r products of x and ∂y,
 * and ∂x comes from the product's own rule with W'. The forward stays one product per layer.
 */
import type { Builder } from '../ir/builder';
import { attrFloat, attrInt, float, int, type Graph, type Node } from '../ir/graph';
import { isFloat } from '../ir/tensor';
import { soleReaders } from './helpers';

export interface LowRankWeight {
  a: string;
  b: string;
  /** s, times the consumer Gemm's alpha */
  scale: number;
  /** the product x·M uses M = s·(A·B)ᵀ rather than s·A·B */
  transposed: boolean;
  /** the nodes from A·B to W', differentiated here as one */
  chain: Node[];
}

/** Low-rank weights of `g`, keyed by the product node that reads W'; `trainable` tells A and B from W. */
export function lowRankWeights(g: Graph, trainable: (t: string) => boolean): Map<Node, LowRankWeight> {
  const only = soleReaders(g);
  const scalar = (t: string): number | undefined => {
    const v = g.initializers.get(t);
    return v && v.data.length === 1 && isFloat(v.dtype) ? Number(v.data[0]) : undefined;
  };
  const found = new Map<Node, LowRankWeight>();
  for (const mm of g.nodes) {
    const [a, bb] = mm.inputs;
    if (mm.op !== 'MatMul' || mm.domain || !a || !bb || !trainable(a) || !trainable(bb)) continue;
    const chain = [mm];
    let scale = 1;
    let transposed = false;
    let t = mm.outputs[0];
    let next = only(t);
    for (let step = 0; next && step < 2; step++) {
      const perm = next.attrs.perm;
      const s = next.op === 'Mul' ? scalar(next.inputs[0] === t ? next.inputs[1] : next.inputs[0]) : undefined;
      if (next.op === 'Mul' && s !== undefined) scale *= s;
      else if (
        next.op === 'Transpose' &&
        !transposed &&
        (!perm || (perm.kind === 'ints' && perm.value.join() === '1,0'))
      )
        transposed = true;
      else break;
      chain.push(next);
      t = next.outputs[0];
      next = only(t);
    }
    const add = next;
    const w = add && add.op === 'Add' ? (add.inputs[0] === t ? add.inputs[1] : add.inputs[0]) : undefined;
    if (!add || !w || w === t || trainable(w) || !g.initializers.has(w) || g.initializers.get(w)!.dims.length !== 2)
      continue;
    const weff = add.outputs[0];
    const consumer = only(weff);
    if (!consumer || consumer.inputs[1] !== weff || consumer.inputs[0] === weff) continue;
    if (consumer.op === 'Gemm') {
      if (attrInt(consumer, 'transA', 0)) continue;
      // M, the [in, out] matrix the rows are multiplied by, is W'ᵀ under transB
      if (attrInt(consumer, 'transB', 0)) transposed = !transposed;
      scale *= attrFloat(consumer, 'alpha', 1);
    } else if (consumer.op !== 'MatMul') continue;
    found.set(consumer, { a, b: bb, scale, transposed, chain: [...chain, add] });
  }
  return found;
}

/**
 * ∂A and ∂B for y = x·M with M = c·A·B (A [in, r], B [r, out]) or M = c·(A·B)ᵀ (A [out, r], B [r, in]), from the
 * product's input x ([…, in]) and ∂y ([…, out]), each as two rank-r products.
 */
export function lowRankGrads(
  b: Builder,
  lr: LowRankWeight,
  x: string,
  dy: string,
  xDims: number[],
  dyDims: number[],
): { dA: string; dB: string } {
  const x2 = xDims.length === 2 ? x : b.reshape(x, [-1, xDims[xDims.length - 1]]);
  const d2 = dyDims.length === 2 ? dy : b.reshape(dy, [-1, dyDims[dyDims.length - 1]]);
  const scaled = (attrs: Record<string, ReturnType<typeof int>>) =>
    lr.scale !== 1 ? { ...attrs, alpha: float(lr.scale) } : attrs;
  if (!lr.transposed) {
    // ∂A = c·xᵀ·(∂y·Bᵀ), ∂B = c·(x·A)ᵀ·∂y
    const t = b.op('Gemm', [d2, lr.b], { transB: int(1) });
    const dA = b.op('Gemm', [x2, t], scaled({ transA: int(1) }));
    const dB = b.op('Gemm', [b.matmul(x2, lr.a), d2], scaled({ transA: int(1) }));
    return { dA, dB };
  }
  // M = c·Bᵀ·Aᵀ: ∂A = c·∂yᵀ·(x·Bᵀ), ∂B = c·(∂y·A)ᵀ·x
  const u = b.op('Gemm', [x2, lr.b], { transB: int(1) });
  const dA = b.op('Gemm', [d2, u], scaled({ transA: int(1) }));
  const dB = b.op('Gemm', [b.matmul(d2, lr.a), x2], scaled({ transA: int(1) }));
  return { dA, dB };
}
