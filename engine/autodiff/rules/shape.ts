/** Gradient rules for ops that only move data: reshape-like, Transpose, Expand, Concat, Split, Slice, Gather. */
import { attrInt, attrInts, attrString, int, ints, str } from '../../ir/graph';
import { tensor } from '../../ir/tensor';
import { constInts, invertPerm, normAxis, unbroadcast } from '../helpers';
import type { GradRule } from '../rule';

/** Reshape, Flatten, Squeeze, Unsqueeze: the gradient is dY in the input's shape. */
export const reshapeLike: GradRule = (ctx) => [ctx.b.reshape(ctx.dy[0]!, ctx.shape(ctx.node.inputs[0])), null];

export const Transpose: GradRule = (ctx) => {
  const rank = ctx.shape(ctx.node.inputs[0]).length;
  const perm = attrInts(ctx.node, 'perm') ?? [...Array(rank).keys()].reverse();
  return [ctx.b.transpose(ctx.dy[0]!, invertPerm(perm))];
};

export const Expand: GradRule = (ctx) => [
  unbroadcast(ctx.b, ctx.dy[0]!, ctx.shape(ctx.node.outputs[0]), ctx.shape(ctx.node.inputs[0])),
  null,
];

export const Concat: GradRule = (ctx) => {
  const rank = ctx.shape(ctx.node.outputs[0]).length;
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), rank);
  const sizes = ctx.node.inputs.map((i) => ctx.shape(i)[axis]);
  const parts = ctx.b.split(ctx.dy[0]!, sizes, axis);
  return parts.map((p, i) => (ctx.needs[i] ? p : null));
};

export const Split: GradRule = (ctx) => {
  const b = ctx.b;
  const rank = ctx.shape(ctx.node.inputs[0]).length;
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), rank);
  const parts = ctx.node.outputs.map((o, i) => ctx.dy[i] ?? b.constant(tensor(ctx.dtype(o), ctx.shape(o)), 'zeros'));
  return [b.op('Concat', parts, { axis: int(axis) }), null];
};

/** Input positions that Slice picks along one axis (ONNX clamping rules; any non-zero step). */
export function sliceIndices(dim: number, start: number, end: number, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
  } else {
    s = clamp(s, 0, dim - 1);
    e = clamp(e, -1, dim - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

/**
 * Slice: scatter dY back into zeros. Unit steps are a Pad; other steps (negative too) gather, per
 * sliced axis, from dY with an appended zero slab: input position j reads the output position that
 * picked it, or the zero slab.
 */
export const Slice: GradRule = (ctx) => {
  const b = ctx.b;
  const n = ctx.node;
  const [x, startsN, endsN, axesN, stepsN] = n.inputs;
  const xs = ctx.shape(x);
  const rank = xs.length;
  // opset < 10 carries starts/ends/axes as attributes
  const starts = attrInts(n, 'starts') ?? constInts(ctx, startsN, 'starts')!;
  const ends = attrInts(n, 'ends') ?? constInts(ctx, endsN, 'ends')!;
  const axes = (attrInts(n, 'axes') ?? constInts(ctx, axesN || undefined, 'axes') ?? starts.map((_, i) => i)).map((a) =>
    normAxis(a, rank),
  );
  const steps = constInts(ctx, stepsN || undefined, 'steps') ?? starts.map(() => 1);
  const ys = ctx.shape(n.outputs[0]);
  const dy = ctx.dy[0]!;
  const none = [null, null, null, null];
  if (steps.every((s) => s === 1)) {
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((a, i) => {
      const picked = sliceIndices(xs[a], starts[i], ends[i], 1);
      pads[a] = picked.length ? picked[0] : 0;
      pads[a + rank] = xs[a] - pads[a] - ys[a];
    });
    // pads are an input from opset 11, an attribute before
    return [b.opset >= 11 ? b.op('Pad', [dy, b.ints(pads)]) : b.op('Pad', [dy], { pads: ints(pads) }), ...none];
  }
  let g = dy;
  const cur = [...ys];
  axes.forEach((a, i) => {
    const picked = sliceIndices(xs[a], starts[i], ends[i], steps[i]);
    const where = new Array<number>(xs[a]).fill(picked.length); // the zero slab
    picked.forEach((p, k) => (where[p] = k));
    const slab = b.constant(
      tensor(
        ctx.dtype(x),
        cur.map((d, k) => (k === a ? 1 : d)),
      ),
      'zeros',
    );
    g = b.op('Concat', [g, slab], { axis: int(a) });
    g = b.op('Gather', [g, b.ints(where)], { axis: int(a) });
    cur[a] = xs[a];
  });
  return [g, ...none];
};

/**
 * Gather with compile-time indices: dX scatters dY back along the gathered axis, repeated indices adding up.
 * From opset 16 this is one ScatterND with reduction 'add' into zeros (cost: the size of dY); before, the one-hot
 * product Mᵀ·dY (cost: depth × the size of dY, which is a dense GEMM when a layer gathers many columns, as GPS does).
 */
export const Gather: GradRule = (ctx) => {
  const b = ctx.b;
  const [x, idxN] = ctx.node.inputs;
  const xs = ctx.shape(x);
  const rank = xs.length;
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), rank);
  const idx = constInts(ctx, idxN, 'indices')!.map((i) => (i < 0 ? i + xs[axis] : i));
  const depth = xs[axis];
  // move the gathered axis to the front: dY has the index dims in place of `axis`
  const ys = ctx.shape(ctx.node.outputs[0]);
  const idxRank = ys.length - rank + 1;
  const pre = xs.slice(0, axis);
  const post = xs.slice(axis + 1);
  const perm = [...Array(idxRank).keys()].map((k) => axis + k);
  const rest = [...Array(axis).keys(), ...[...Array(ys.length - axis - idxRank).keys()].map((k) => axis + idxRank + k)];
  const order = [...perm, ...rest];
  let g = order.every((p, i) => p === i) ? ctx.dy[0]! : b.transpose(ctx.dy[0]!, order);
  const restSize = [...pre, ...post].reduce((p, d) => p * d, 1);
  g = b.reshape(g, [idx.length, restSize]);
  if (b.opset >= 16) {
    const zeros = b.op('ConstantOfShape', [b.ints([depth, restSize])], {
      value: { kind: 'tensor', value: tensor(ctx.dtype(x), [1]) },
    });
    g = b.op('ScatterND', [zeros, b.constant(tensor('int64', [idx.length, 1], idx), 'gather_idx'), g], {
      reduction: str('add'),
    });
  } else {
    const oneHot = new Array<number>(depth * idx.length).fill(0);
    idx.forEach((v, j) => (oneHot[v * idx.length + j] += 1));
    g = b.matmul(b.floats([depth, idx.length], oneHot), g); // [depth, rest]
  }
  g = b.reshape(g, [depth, ...pre, ...post]);
  const back = [...Array(rank).keys()].map((k) => (k < axis ? k + 1 : k === axis ? 0 : k));
  return [axis === 0 ? g : b.transpose(g, back), null];
};

/**
 * ScatterND, as GPS's masked weight uses it (δ scattered into the frozen W0): dUpdates gathers dY at the indices;
 * dData is dY with the scattered places zeroed (each was overwritten), or dY itself when the updates are added.
 */
export const ScatterND: GradRule = (ctx) => {
  const b = ctx.b;
  const [, idx, upd] = ctx.node.inputs;
  const dy = ctx.dy[0]!;
  const reduction = attrString(ctx.node, 'reduction', 'none');
  if (reduction !== 'none' && reduction !== 'add')
    throw new Error(`no gradient rule for ScatterND with reduction '${reduction}'`);
  const dUpd = ctx.needs[2] ? b.op('GatherND', [dy, idx]) : null;
  const zeros = () =>
    b.op('ConstantOfShape', [b.ints(ctx.shape(upd))], {
      value: { kind: 'tensor', value: tensor(ctx.dtype(upd), [1]) },
    });
  const dData = !ctx.needs[0] ? null : reduction === 'add' ? dy : b.op('ScatterND', [dy, idx, zeros()]);
  return [dData, null, dUpd];
};
