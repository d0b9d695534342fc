/** Gradient rules for LayerNormalization and (frozen-statistics) BatchNormalization. */
import { attrFloat, attrInt } from '../../ir/graph';
import { normAxis, unbroadcast } from '../helpers';
import type { GradRule } from '../rule';

/**
 * y = x̂·scale + bias with x̂ = (x − μ)/σ over axes [axis, rank).
 * dX = (1/σ)·(g − mean(g) − x̂·mean(g⊙x̂)) with g = dY⊙scale. Statistics are recomputed
 * rather than taken from the optional outputs, so the forward node stays as exported.
 */
export const LayerNormalization: GradRule = (ctx) => {
  const b = ctx.b;
  const [x, scale, bias] = ctx.node.inputs;
  const dy = ctx.dy[0]!;
  const xs = ctx.shape(x);
  const rank = xs.length;
  const axis = normAxis(attrInt(ctx.node, 'axis', -1), rank);
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  const normAxes = [...Array(rank - axis).keys()].map((k) => axis + k);
  const mu = b.reduceMean(x, normAxes, true);
  const xc = b.sub(x, mu);
  const variance = b.reduceMean(b.mul(xc, xc), normAxes, true);
  const inv = b.div(b.scalar(1), b.sqrt(b.add(variance, b.scalar(eps))));
  const xhat = b.mul(xc, inv);
  let dx: string | null = null;
  if (ctx.needs[0]) {
    const g = b.mul(dy, scale);
    const mg = b.reduceMean(g, normAxes, true);
    const mgx = b.reduceMean(b.mul(g, xhat), normAxes, true);
    dx = b.mul(inv, b.sub(b.sub(g, mg), b.mul(xhat, mgx)));
  }
  // scale and bias broadcast against the normalised shape (usually equal to it)
  const dScale = ctx.needs[1] ? unbroadcast(b, b.mul(dy, xhat), xs, ctx.shape(scale)) : null;
  const dBias = bias && ctx.needs[2] ? unbroadcast(b, dy, xs, ctx.shape(bias)) : null;
  return [dx, dScale, dBias];
};

/**
 * Inference-mode BatchNormalization: running mean and variance are frozen statistics, never trained.
 * y = scale·(x − m)/√(v + ε) + bias, per channel (axis 1).
 */
export const BatchNormalization: GradRule = (ctx) => {
  const b = ctx.b;
  const [x, scale, , mean, variance] = ctx.node.inputs;
  const dy = ctx.dy[0]!;
  const xs = ctx.shape(x);
  const c = xs[1];
  const bshape = [1, c, ...xs.slice(2).map(() => 1)];
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  const inv = b.reshape(b.div(b.scalar(1), b.sqrt(b.add(variance, b.scalar(eps)))), bshape);
  const others = [0, ...xs.slice(2).map((_, i) => i + 2)];
  const dx = ctx.needs[0] ? b.mul(dy, b.mul(b.reshape(scale, bshape), inv)) : null;
  const dScale = ctx.needs[1]
    ? b.reshape(b.reduceSum(b.mul(dy, b.mul(b.sub(x, b.reshape(mean, bshape)), inv)), others, false), [c])
    : null;
  const dBias = ctx.needs[2] ? b.reduceSum(dy, others, false) : null;
  return [dx, dScale, dBias, null, null];
};
