/** Shared building blocks for gradient rules. */
import type { Builder } from '../ir/builder';
import { consumers, type Graph, type Node } from '../ir/graph';
import type { GradContext } from './rule';

/** Sums `grad` (shape `from`) down to the broadcast source shape `to` (numpy broadcasting rules). */
export function unbroadcast(b: Builder, grad: string, from: number[], to: number[]): string {
  if (from.length === to.length && from.every((d, i) => d === to[i])) return grad;
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    const t = i - lead;
    if (t < 0 || (to[t] === 1 && from[i] !== 1)) axes.push(i);
  }
  const rows = axes.reduce((n, a) => n * from[a], 1);
  // a sum over the leading axes (a bias gradient: every row of the batch × tokens) as one row of ones times the
  // gradient: onnxruntime's GEMM streams it far faster than ReduceSum over leading axes does
  const leading = axes.length > 0 && axes.every((a, i) => a === i) && axes.length < from.length;
  if (leading && rows >= LEADING_SUM_MIN_ROWS) {
    const cols = from.slice(axes.length).reduce((n, d) => n * d, 1);
    const ones = b.floats([1, rows], new Array<number>(rows).fill(1));
    return b.reshape(b.matmul(ones, b.reshape(grad, [rows, cols])), to.length ? to : []);
  }
  let g = axes.length ? b.reduceSum(grad, axes, true) : grad;
  g = b.reshape(g, to.length ? to : []);
  return g;
}

/** below this many rows, ReduceSum is as fast and the graph stays smaller */
const LEADING_SUM_MIN_ROWS = 256;

/** Normalises possibly negative axes. */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Integer values of an input known at compile time (axes, shapes, starts…). */
export function constInts(ctx: GradContext, name: string | undefined, what: string): number[] | undefined {
  if (!name) return undefined;
  const t = ctx.value(name);
  if (!t)
    throw new Error(`${ctx.node.op} "${ctx.node.name}": ${what} must be a compile-time constant for differentiation`);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Inverse permutation, for Transpose. */
export function invertPerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * The one node reading each tensor, for the fused-gradient patterns (low-rank, per-sample and sparse weights): a
 * tensor read twice, read by a non-standard op or also a graph output is not theirs to differentiate as one.
 */
export function soleReaders(g: Graph): (t: string) => Node | undefined {
  const readers = consumers(g);
  const outputs = new Set(g.outputs.map((o) => o.name));
  return (t) => {
    const r = readers.get(t) ?? [];
    return r.length === 1 && !r[0].domain && !outputs.has(t) ? r[0] : undefined;
  };
}
