/** Gradient rules for MatMul and Gemm. A 2-D weight's gradient is computed as one GEMM over the flattened batch. */
import { attrFloat, attrInt, float, int } from '../../ir/graph';
import { unbroadcast } from '../helpers';
import type { GradRule } from '../rule';

const swapLast = (rank: number): number[] => [...Array(rank - 2).keys(), rank - 1, rank - 2];

/** numpy matmul semantics: a 1-D A is a row [1, k], a 1-D B a column [k, 1], and the unit dim is dropped from Y. */
export const MatMul: GradRule = (ctx) => {
  const b = ctx.b;
  const [A0, B0] = ctx.node.inputs;
  const sa0 = ctx.shape(A0);
  const sb0 = ctx.shape(B0);
  const sy0 = ctx.shape(ctx.node.outputs[0]);
  const aVec = sa0.length === 1;
  const bVec = sb0.length === 1;
  const sa = aVec ? [1, sa0[0]] : sa0;
  const sb = bVec ? [sb0[0], 1] : sb0;
  const sy = aVec && bVec ? [1, 1] : aVec ? [...sy0.slice(0, -1), 1, sy0[sy0.length - 1]] : bVec ? [...sy0, 1] : sy0;
  const A = aVec ? b.reshape(A0, sa) : A0;
  const B = bVec ? b.reshape(B0, sb) : B0;
  const dy = aVec || bVec ? b.reshape(ctx.dy[0]!, sy) : ctx.dy[0]!;
  let dA: string | null = null;
  let dB: string | null = null;
  if (ctx.needs[0]) {
    // dA = dY · Bᵀ, summed over broadcast batch dims
    const bt = sb.length === 2 ? b.transpose(B, [1, 0]) : b.transpose(B, swapLast(sb.length));
    const full = b.matmul(dy, bt);
    dA = unbroadcast(b, full, [...sy.slice(0, -2), sa[sa.length - 2], sa[sa.length - 1]], sa);
    if (aVec) dA = b.reshape(dA, sa0);
  }
  if (ctx.needs[1]) {
    if (sb.length === 2) {
      // weight [k, m]: one GEMM over all rows, Aᵀ·dY with A flattened to [rows, k]
      const k = sa[sa.length - 1];
      const m = sb[1];
      const a2 = b.reshape(A, [-1, k]);
      const d2 = b.reshape(dy, [-1, m]);
      dB = b.op('Gemm', [a2, d2], { transA: int(1) });
    } else {
      const full = b.matmul(b.transpose(A, swapLast(sa.length)), dy);
      dB = unbroadcast(b, full, [...sy.slice(0, -2), sb[sb.length - 2], sb[sb.length - 1]], sb);
    }
    if (bVec) dB = b.reshape(dB, sb0);
  }
  return [dA, dB];
};

/** Y = α·op(A)·op(B) + β·C with op = optional transpose. */
export const Gemm: GradRule = (ctx) => {
  const b = ctx.b;
  const [A, B, C] = ctx.node.inputs;
  const y = ctx.node.outputs[0];
  const dy = ctx.dy[0]!;
  const alpha = attrFloat(ctx.node, 'alpha', 1);
  const beta = attrFloat(ctx.node, 'beta', 1);
  const tA = attrInt(ctx.node, 'transA', 0);
  const tB = attrInt(ctx.node, 'transB', 0);
  const scaled = (attrs: Record<string, ReturnType<typeof int>>) =>
    alpha !== 1 ? { ...attrs, alpha: float(alpha) } : attrs;
  let dA: string | null = null;
  let dB: string | null = null;
  if (ctx.needs[0]) {
    // d op(A) = dY·op(B)ᵀ; for transA, dA = (d op(A))ᵀ = op(B)·dYᵀ
    dA = tA
      ? b.op('Gemm', [B, dy], scaled({ transA: int(tB), transB: int(1) }))
      : b.op('Gemm', [dy, B], scaled({ transB: int(tB ? 0 : 1) }));
  }
  if (ctx.needs[1]) {
    // d op(B) = op(A)ᵀ·dY; for transB, dB = dYᵀ·op(A)
    dB = tB
      ? b.op('Gemm', [dy, A], scaled({ transA: int(1), transB: int(tA) }))
      : b.op('Gemm', [A, dy], scaled({ transA: int(tA ? 0 : 1) }));
  }
  let dC: string | null = null;
  if (C && ctx.needs[2]) {
    const g = beta !== 1 ? b.mul(dy, b.scalar(beta)) : dy;
    dC = unbroadcast(b, g, ctx.shape(y), ctx.shape(C));
  }
  return [dA, dB, dC];
};
