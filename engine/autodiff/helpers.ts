/** Shared building blocks for gradient rules. */
import type { Builder } from '../ir/builder';
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
  let g = axes.length ? b.reduceSum(grad, axes, true) : grad;
  g = b.reshape(g, to.length ? to : []);
  return g;
}

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
