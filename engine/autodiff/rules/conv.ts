/** Gradient rules for Conv and pooling. */
import { attrInt, attrInts, attrString, int, ints, type Node } from '../../ir/graph';
import { tensor } from '../../ir/tensor';
import type { Builder } from '../../ir/builder';
import type { GradRule } from '../rule';
import { col2im, im2col, windowTable, type WindowTable } from '../window';

export interface ConvGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...] as in ONNX */
  pads: number[];
}

/** Explicit geometry of a Conv/pool node, resolving auto_pad against the static input spatial dims `xs`. */
export function convGeometry(xs: number[], n: Node, kernel: number[]): ConvGeometry {
  const sp = kernel.length;
  const strides = attrInts(n, 'strides') ?? new Array(sp).fill(1);
  const dilations = attrInts(n, 'dilations') ?? new Array(sp).fill(1);
  let pads = attrInts(n, 'pads') ?? new Array(2 * sp).fill(0);
  const auto = attrString(n, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') pads = new Array(2 * sp).fill(0);
  else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    pads = new Array(2 * sp).fill(0);
    for (let i = 0; i < sp; i++) {
      const out = Math.ceil(xs[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - xs[i]);
      const small = Math.floor(total / 2);
      pads[i] = auto === 'SAME_UPPER' ? small : total - small;
      pads[i + sp] = total - pads[i];
    }
  }
  return { kernel, strides, dilations, pads };
}

/** x [N, C, *spatial] at the positions a 1×1 window with `strides` reads, `outSpatial` of them per axis. */
export function sampledAtStrides(b: Builder, x: string, strides: number[], outSpatial: number[]): string {
  if (strides.every((st) => st === 1)) return x;
  return b.op('Slice', [
    x,
    b.ints(strides.map(() => 0)),
    b.ints(outSpatial.map((d, i) => (d - 1) * strides[i] + 1)),
    b.ints(strides.map((_, i) => i + 2)),
    b.ints(strides),
  ]);
}

/**
 * Conv: dX = ConvTranspose(dY, W), or for stride 1 a Conv of dY with W flipped; dW by a grouped convolution of X
 * with dY as the kernel (batch folded into groups), which covers group = 1, grouped and depthwise convolutions alike;
 * a 1×1 convolution's dW by a batched product instead. (For depthwise 3×3 convolutions, nine strided slices of X
 * times dY, each summed, ran 1.0–3.8× slower than the grouped convolution.)
 */
export const Conv: GradRule = (ctx) => {
  const b = ctx.b;
  const n = ctx.node;
  const [x, w, bias] = n.inputs;
  const dy = ctx.dy[0]!;
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const ys = ctx.shape(n.outputs[0]);
  const group = attrInt(n, 'group', 1);
  const geo = convGeometry(xs.slice(2), n, ws.slice(2));
  const sp = geo.kernel.length;
  const [N, C] = xs;
  const M = ws[0];
  let dx: string | null = null;
  // stride 1: ∂x is a convolution of ∂y with the kernel flipped and its in/out channels swapped within each group,
  // padded by what the forward's window reached beyond x; 1.5–4× faster than ConvTranspose on onnxruntime's CPU, and
  // with a frozen kernel onnxruntime folds the flipped copy and pre-packs it (MobileNetV2 BitFit: 36–42 → 54–58 img/s)
  const backPads = geo.pads.map((p, j) => (geo.kernel[j % sp] - 1) * geo.dilations[j % sp] - p);
  if (ctx.needs[0] && geo.strides.every((st) => st === 1) && backPads.every((p) => p >= 0)) {
    const spatial = geo.kernel.map((_, i) => i + 3);
    let flipped = b.reshape(w, [group, M / group, C / group, ...geo.kernel]);
    flipped = b.reshape(b.transpose(flipped, [0, 2, 1, ...spatial]), [C, M / group, ...geo.kernel]);
    flipped = b.op('Slice', [
      flipped,
      b.ints(geo.kernel.map(() => -1)),
      b.ints(geo.kernel.map(() => -(2 ** 31))),
      b.ints(geo.kernel.map((_, i) => i + 2)),
      b.ints(geo.kernel.map(() => -1)),
    ]);
    dx = b.op('Conv', [dy, flipped], {
      dilations: ints(geo.dilations),
      pads: ints(backPads),
      group: int(group),
      kernel_shape: ints(geo.kernel),
    });
  } else if (ctx.needs[0]) {
    const outputPadding = xs
      .slice(2)
      .map(
        (d, i) =>
          d -
          ((ys[i + 2] - 1) * geo.strides[i] +
            (geo.kernel[i] - 1) * geo.dilations[i] +
            1 -
            geo.pads[i] -
            geo.pads[i + sp]),
      );
    dx = b.op('ConvTranspose', [dy, w], {
      strides: ints(geo.strides),
      dilations: ints(geo.dilations),
      pads: ints(geo.pads),
      group: int(group),
      output_padding: ints(outputPadding),
      kernel_shape: ints(geo.kernel),
    });
  }
  let dw: string | null = null;
  const pointwise = group === 1 && geo.kernel.every((k) => k === 1) && geo.pads.every((p) => p === 0);
  if (ctx.needs[1] && pointwise) {
    // a 1×1 convolution is a product per image: ∂W = Σ_n ∂y_n·x_nᵀ, one batched MatMul ([N, M, P]·[N, P, C]) and a
    // sum over the batch, 5–12× faster on onnxruntime's CPU than the grouped convolution below at MobileNetV2's shapes
    const P = ys.slice(2).reduce((a, d) => a * d, 1);
    const sampled = sampledAtStrides(b, x, geo.strides, ys.slice(2));
    const xt = b.transpose(b.reshape(sampled, [N, C, P]), [0, 2, 1]);
    const perImage = b.matmul(b.reshape(dy, [N, M, P]), xt);
    dw = b.reshape(b.reduceSum(perImage, [0], false), ws);
  } else if (ctx.needs[1]) {
    const cg = C / group;
    const spatial = xs.slice(2);
    // X [N,C,*] → [C/G, N·G, *]: each (n, g) becomes a group whose single input channel is one c'
    let xr = b.reshape(x, [N, group, cg, ...spatial]);
    xr = b.transpose(xr, [2, 0, 1, ...spatial.map((_, i) => i + 3)]);
    xr = b.reshape(xr, [cg, N * group, ...spatial]);
    const kr = b.reshape(dy, [N * M, 1, ...ys.slice(2)]);
    const full = b.op('Conv', [xr, kr], {
      group: int(N * group),
      strides: ints(geo.dilations),
      dilations: ints(geo.strides),
      pads: ints(geo.pads),
    });
    // full: [C/G, N·M, k'…] with k' ≥ k: keep the first k taps
    const fullShape = spatial.map(
      (d, i) =>
        Math.floor((d + geo.pads[i] + geo.pads[i + sp] - (ys[i + 2] - 1) * geo.strides[i] - 1) / geo.dilations[i]) + 1,
    );
    let g = fullShape.some((d, i) => d !== geo.kernel[i])
      ? b.op('Slice', [
          full,
          b.ints(geo.kernel.map(() => 0)),
          b.ints(geo.kernel),
          b.ints(geo.kernel.map((_, i) => i + 2)),
        ])
      : full;
    g = b.reshape(g, [cg, N, M, ...geo.kernel]);
    g = b.reduceSum(g, [1], false);
    dw = b.transpose(g, [1, 0, ...geo.kernel.map((_, i) => i + 2)]);
  }
  const db = bias && ctx.needs[2] ? b.reduceSum(dy, [0, ...ys.slice(2).map((_, i) => i + 2)], false) : null;
  return [dx, dw, db];
};

export const GlobalAveragePool: GradRule = (ctx) => {
  const b = ctx.b;
  const xs = ctx.shape(ctx.node.inputs[0]);
  const area = xs.slice(2).reduce((p, d) => p * d, 1);
  return [b.op('Expand', [b.mul(ctx.dy[0]!, b.scalar(1 / area)), b.ints(xs)])];
};

/** The window table of a pooling node over its static input/output shapes. */
function poolTable(xs: number[], ys: number[], n: Node): WindowTable {
  const kernel = attrInts(n, 'kernel_shape')!;
  const geo = convGeometry(xs.slice(2), n, kernel);
  return windowTable({ ...geo, inDims: xs.slice(2), outDims: ys.slice(2) });
}

/**
 * MaxPool: the gradient goes to the first maximum of each window (as PyTorch and onnxruntime pick it):
 * windows gathered by im2col (padding reads −∞), ArgMax → one-hot, then col2im adds overlapping windows.
 * Works for any opset ≥ 11 and provider; the Indices output is not needed.
 */
export const MaxPool: GradRule = (ctx) => {
  const b = ctx.b;
  const x = ctx.node.inputs[0];
  const xs = ctx.shape(x);
  const ys = ctx.shape(ctx.node.outputs[0]);
  const t = poolTable(xs, ys, ctx.node);
  const lead = xs.slice(0, 2);
  const cols = im2col(b, x, lead, t, -Infinity);
  const first = b.op('ArgMax', [cols], { axis: int(3), keepdims: int(1) });
  const hit = b.op('Equal', [first, b.constant(tensor('int64', [t.k], [...Array(t.k).keys()]), 'taps')]);
  const dy = b.reshape(ctx.dy[0]!, [...lead, t.pOut, 1]);
  const routed = b.op('Where', [hit, dy, b.scalar(0)]);
  return [b.reshape(col2im(b, routed, lead, t, true), xs)];
};

/** AveragePool: each window spreads dY / (its divisor) over its taps (count_include_pad decides the divisor). */
export const AveragePool: GradRule = (ctx) => {
  const b = ctx.b;
  const x = ctx.node.inputs[0];
  const xs = ctx.shape(x);
  const ys = ctx.shape(ctx.node.outputs[0]);
  const t = poolTable(xs, ys, ctx.node);
  const lead = xs.slice(0, 2);
  const counts = attrInt(ctx.node, 'count_include_pad', 0) ? t.inPadded : t.valid;
  const inv = b.floats(
    [t.pOut],
    Array.from(counts, (c) => 1 / c),
  );
  const scaled = b.mul(b.reshape(ctx.dy[0]!, [...lead, t.pOut]), inv);
  return [b.reshape(col2im(b, scaled, lead, t, false), xs)];
};
