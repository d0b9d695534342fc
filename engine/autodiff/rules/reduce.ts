/** Gradient rules for reductions and softmax-family ops. */
import { attrInt, attrInts } from '../../ir/graph';
import { constInts, normAxis } from '../helpers';
import type { GradContext, GradRule } from '../rule';

/** Axes of a reduce op: the `axes` input (opset ≥ 13 for ReduceSum, ≥ 18 for others) or attribute. */
function reduceAxes(ctx: GradContext): number[] {
  const rank = ctx.shape(ctx.node.inputs[0]).length;
  const input = ctx.node.inputs[1];
  let axes = attrInts(ctx.node, 'axes');
  if (input) axes = constInts(ctx, input, 'axes');
  if (!axes || axes.length === 0) return attrInt(ctx.node, 'noop_with_empty_axes', 0) ? [] : [...Array(rank).keys()];
  return axes.map((a) => normAxis(a, rank));
}

/** dY broadcast back to the input shape (re-inserting reduced axes). */
function expandBack(ctx: GradContext, dy: string): string {
  const xs = ctx.shape(ctx.node.inputs[0]);
  const axes = new Set(reduceAxes(ctx));
  const kept = xs.map((d, i) => (axes.has(i) ? 1 : d));
  return ctx.b.op('Expand', [ctx.b.reshape(dy, kept), ctx.b.ints(xs)]);
}

export const ReduceSum: GradRule = (ctx) => [expandBack(ctx, ctx.dy[0]!), null];
export const ReduceMean: GradRule = (ctx) => {
  const xs = ctx.shape(ctx.node.inputs[0]);
  const n = reduceAxes(ctx).reduce((p, a) => p * xs[a], 1);
  return [expandBack(ctx, ctx.b.mul(ctx.dy[0]!, ctx.b.scalar(1 / n))), null];
};
export const ReduceSumSquare: GradRule = (ctx) => [
  ctx.b.mul(expandBack(ctx, ctx.dy[0]!), ctx.b.mul(ctx.b.scalar(2), ctx.node.inputs[0])),
  null,
];

/**
 * Axes a softmax normalises over: one axis from opset 13; before, the input is coerced to 2-D at
 * `axis` (default 1), so every axis from `axis` on.
 */
function softmaxAxes(ctx: GradContext): number[] {
  const rank = ctx.shape(ctx.node.inputs[0]).length;
  if (ctx.b.opset >= 13) return [normAxis(attrInt(ctx.node, 'axis', -1), rank)];
  const axis = normAxis(attrInt(ctx.node, 'axis', 1), rank);
  return [...Array(rank - axis).keys()].map((k) => axis + k);
}

/** dX = Y ⊙ (dY − Σ dY⊙Y) */
export const Softmax: GradRule = (ctx) => {
  const b = ctx.b;
  const y = ctx.node.outputs[0];
  const dy = ctx.dy[0]!;
  const s = b.reduceSum(b.mul(dy, y), softmaxAxes(ctx), true);
  return [b.mul(y, b.sub(dy, s))];
};

/** dX = dY − softmax(X) · Σ dY */
export const LogSoftmax: GradRule = (ctx) => {
  const b = ctx.b;
  const y = ctx.node.outputs[0];
  const dy = ctx.dy[0]!;
  const s = b.reduceSum(dy, softmaxAxes(ctx), true);
  return [b.sub(dy, b.mul(b.exp(y), s))];
};
