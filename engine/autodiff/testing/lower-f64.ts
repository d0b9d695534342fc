/**
 * Test-only lowering: onnxruntime's CPU provider has no float64 kernels for Conv, ConvTranspose,
 * AveragePool, GlobalAveragePool and Erf, so gradient checks rewrite them (in the forward and in
 * the emitted backward graph) into ops that have them. Conv-family ops become im2col Gathers plus
 * MatMul (exact up to summation order); Erf becomes W. J. Cody's rational approximations (|error| < 1e-15).
 */
import { Builder } from '../../ir/builder';
import type { ShapeMap } from '../../ir/fold';
import { attrInt, attrInts, attrString, cloneModel, type Model, type Node } from '../../ir/graph';
import { convGeometry } from '../rules/conv';
import { col2im, im2col, windowTable } from '../window';
import { inferShapes64 } from './f64';

type Lowering = (b: Builder, n: Node, shape: (name: string) => number[]) => string;

/** Y[n, g·Mg+m, o] = Σ_{c∈g, k} X[n, c, o·s + k·d − p] · W[g·Mg+m, c, k], as one batched MatMul per group. */
const conv: Lowering = (b, n, shape) => {
  const [x, w, bias] = n.inputs;
  const xs = shape(x);
  const ws = shape(w);
  const ys = shape(n.outputs[0]);
  const [N, C] = xs;
  const M = ws[0];
  const G = attrInt(n, 'group', 1);
  const cg = C / G;
  const geo = convGeometry(xs.slice(2), n, ws.slice(2));
  const t = windowTable({ ...geo, inDims: xs.slice(2), outDims: ys.slice(2) });
  let cols = im2col(b, x, [N, C], t, 0); // [N, C, P, K]
  cols = b.reshape(cols, [N, G, cg, t.pOut, t.k]);
  cols = b.reshape(b.transpose(cols, [0, 1, 3, 2, 4]), [N, G, t.pOut, cg * t.k]);
  const wm = b.transpose(b.reshape(w, [G, M / G, cg * t.k]), [0, 2, 1]); // [G, Cg·K, Mg]
  let y = b.transpose(b.matmul(cols, wm), [0, 1, 3, 2]); // [N, G, Mg, P]
  y = b.reshape(y, ys);
  return bias ? b.add(y, b.reshape(bias, [1, M, ...ys.slice(2).map(() => 1)])) : y;
};

/**
 * ConvTranspose is the transpose of the Conv whose input is Y and output is X: per input position
 * and tap, the products X·W (one MatMul), then col2im adds them onto the output positions.
 */
const convTranspose: Lowering = (b, n, shape) => {
  const [x, w, bias] = n.inputs;
  if (n.attrs.output_shape || attrString(n, 'auto_pad', 'NOTSET') !== 'NOTSET')
    throw new Error(`lowerF64: ConvTranspose "${n.name}" with output_shape/auto_pad is not lowered`);
  const xs = shape(x);
  const ws = shape(w);
  const ys = shape(n.outputs[0]);
  const [N, C] = xs;
  const G = attrInt(n, 'group', 1);
  const cg = C / G;
  const mg = ws[1];
  const M = G * mg;
  const kernel = ws.slice(2);
  const sp = kernel.length;
  const t = windowTable({
    inDims: ys.slice(2),
    outDims: xs.slice(2),
    kernel,
    strides: attrInts(n, 'strides') ?? kernel.map(() => 1),
    dilations: attrInts(n, 'dilations') ?? kernel.map(() => 1),
    pads: attrInts(n, 'pads') ?? new Array<number>(2 * sp).fill(0),
  });
  const xr = b.transpose(b.reshape(x, [N, G, cg, t.pOut]), [0, 1, 3, 2]); // [N, G, Pin, Cg]
  let cols = b.matmul(xr, b.reshape(w, [G, cg, mg * t.k])); // [N, G, Pin, Mg·K]
  cols = b.transpose(b.reshape(cols, [N, G, t.pOut, mg, t.k]), [0, 1, 3, 2, 4]);
  cols = b.reshape(cols, [N, M, t.pOut, t.k]);
  const y = b.reshape(col2im(b, cols, [N, M], t, true), ys);
  return bias ? b.add(y, b.reshape(bias, [1, M, ...ys.slice(2).map(() => 1)])) : y;
};

/** Window sums divided by each window's divisor (count_include_pad counts taps inside the padded input). */
const averagePool: Lowering = (b, n, shape) => {
  const x = n.inputs[0];
  const xs = shape(x);
  const ys = shape(n.outputs[0]);
  const geo = convGeometry(xs.slice(2), n, attrInts(n, 'kernel_shape')!);
  const t = windowTable({ ...geo, inDims: xs.slice(2), outDims: ys.slice(2) });
  const sums = b.reduceSum(im2col(b, x, xs.slice(0, 2), t, 0), [3], false);
  const counts = attrInt(n, 'count_include_pad', 0) ? t.inPadded : t.valid;
  return b.reshape(b.div(sums, b.floats([t.pOut], counts)), ys);
};

const globalAveragePool: Lowering = (b, n, shape) => {
  const rank = shape(n.inputs[0]).length;
  return b.reduceMean(
    n.inputs[0],
    [...Array(rank - 2).keys()].map((k) => k + 2),
    true,
  );
};

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
// coefficients as in his CALERF (netlib specfun).
const A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909,
  1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
];
const D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963,
  4362.61909014324716, 3439.36767414372164, 1230.33935480374942,
];
const P = [
  0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4,
  0.0163153871373020978,
];
const Q = [
  2.56852019228982242, 1.87295284992346725, 0.527905102951428412, 0.0605183413124413191, 2.33520497626869185e-3,
];

/** Cody's nested evaluation: (((c·z + n0)·z + n1)·z …) / ((z + d0)·z …), exactly as CALERF orders it. */
function ratio(b: Builder, z: string, num: number[], den: number[], steps: number): string {
  let xnum = b.mul(b.scalar(num[steps + 1]), z);
  let xden = z;
  for (let i = 0; i < steps; i++) {
    xnum = b.mul(b.add(xnum, b.scalar(num[i])), z);
    xden = b.mul(b.add(xden, b.scalar(den[i])), z);
  }
  return b.div(b.add(xnum, b.scalar(num[steps])), b.add(xden, b.scalar(den[steps])));
}

/** erf(x): x·R(x²) for |x| ≤ 0.46875, else sign(x)·(1 − erfc(|x|)) with erfc from the two outer ranges. */
const erf: Lowering = (b, n) => {
  const x = n.inputs[0];
  const y = b.op('Abs', [x]);
  const small = b.mul(x, ratio(b, b.mul(x, x), A, B, 3));
  const mid = b.mul(b.exp(b.neg(b.mul(y, y))), ratio(b, y, C, D, 7));
  const yl = b.op('Max', [y, b.scalar(4)]); // keeps the unused branch finite
  const z = b.div(b.scalar(1), b.mul(yl, yl));
  const tail = b.div(b.sub(b.scalar(1 / Math.sqrt(Math.PI)), b.mul(z, ratio(b, z, P, Q, 4))), yl);
  const large = b.mul(b.exp(b.neg(b.mul(yl, yl))), tail);
  const erfc = b.op('Where', [b.op('Greater', [y, b.scalar(4)]), large, mid]);
  const outer = b.mul(b.op('Sign', [x]), b.sub(b.scalar(1), erfc));
  return b.op('Where', [b.op('LessOrEqual', [y, b.scalar(0.46875)]), small, outer]);
};

export const LOWERINGS: Record<string, Lowering> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  Erf: erf,
};

/** A copy of an all-float64 model with every op in LOWERINGS rewritten in place (outputs keep their names). */
export async function lowerF64(m: Model, shapes?: ShapeMap): Promise<Model> {
  const out = cloneModel(m);
  const g = out.graph;
  const s = shapes ?? (await inferShapes64(out));
  const shape = (name: string): number[] => {
    const info = s.get(name);
    if (!info) throw new Error(`lowerF64: no shape for ${name}`);
    return info.dims;
  };
  const b = new Builder(g, 'lower64', 'float64', out.opset);
  const original = g.nodes;
  const nodes: Node[] = [];
  for (const n of original) {
    const lower = LOWERINGS[n.op];
    if (!lower || n.domain) {
      nodes.push(n);
      continue;
    }
    g.nodes = [];
    const result = lower(b, n, shape);
    nodes.push(...g.nodes, {
      name: `${n.name}/lowered`,
      op: 'Identity',
      domain: '',
      inputs: [result],
      outputs: [n.outputs[0]],
      attrs: {},
    });
  }
  g.nodes = nodes;
  return out;
}
