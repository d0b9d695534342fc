/**
 * The float64 lowering used by gradient checks must itself be right: compared with onnxruntime's
 * float32 kernels on random inputs, and Erf with a float64 reference series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { emptyGraph, int, ints, str, type Attr, type Model } from '../ir/graph';
import { castFloat, sizeOf, tensor, type Tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';
import { lowerF64 } from './testing/lower-f64';
import { toFloat64Model } from './testing/f64';

function singleOp(op: string, dims: number[][], attrs: Record<string, Attr>, opset = 17): Model {
  const g = emptyGraph(op);
  dims.forEach((d, i) => g.inputs.push({ name: `x${i}`, dtype: 'float32', shape: d }));
  g.nodes.push({ name: 'n', op, domain: '', inputs: dims.map((_, i) => `x${i}`), outputs: ['y'], attrs });
  g.outputs.push({ name: 'y', dtype: 'float32', shape: [] });
  return { graph: g, opset, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

/** Runs `op` with onnxruntime's float32 kernel and the lowered float64 graph on the same inputs. */
async function compare(op: string, dims: number[][], attrs: Record<string, Attr>, seed = 1): Promise<number> {
  const r = mulberry32(seed);
  const feeds32: Record<string, Tensor> = {};
  dims.forEach(
    (d, i) =>
      (feeds32[`x${i}`] = tensor(
        'float32',
        d,
        Array.from({ length: sizeOf(d) }, () => 2 * r() - 1),
      )),
  );
  const m32 = singleOp(op, dims, attrs);
  const ref = await (await createSession(m32, { provider: 'cpu' })).run(feeds32);
  const m64 = await lowerF64(toFloat64Model(m32));
  assert.ok(!m64.graph.nodes.some((n) => n.op === op), `${op} was lowered away`);
  const feeds64 = Object.fromEntries(Object.entries(feeds32).map(([k, v]) => [k, castFloat(v, 'float64')]));
  const got = await (await createSession(m64, { provider: 'cpu' })).run(feeds64);
  assert.deepEqual(got.y.dims, ref.y.dims, `${op} output shape`);
  let worst = 0;
  ref.y.data.forEach(
    (v, i) => (worst = Math.max(worst, Math.abs(Number(v) - Number(got.y.data[i])) / (1 + Math.abs(Number(v))))),
  );
  return worst;
}

test('Conv lowering matches onnxruntime (groups, depthwise, strides, dilations, pads, auto_pad, 1-D, 3-D)', async () => {
  const cases: [number[][], Record<string, Attr>][] = [
    [[[2, 3, 7, 6], [4, 3, 3, 3], [4]], { pads: ints([1, 1, 1, 1]) }],
    [[[2, 4, 8, 8], [6, 2, 3, 3], [6]], { group: int(2), strides: ints([2, 2]), pads: ints([1, 0, 2, 1]) }],
    [
      [
        [1, 4, 7, 7],
        [4, 1, 3, 3],
      ],
      { group: int(4), dilations: ints([2, 1]), pads: ints([2, 1, 2, 1]) },
    ],
    [
      [
        [2, 3, 7, 5],
        [2, 3, 2, 3],
      ],
      { auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) },
    ],
    [
      [
        [2, 3, 7, 5],
        [2, 3, 2, 3],
      ],
      { auto_pad: str('SAME_LOWER'), strides: ints([2, 3]) },
    ],
    [[[2, 3, 9], [4, 3, 3], [4]], { strides: ints([2]), pads: ints([1, 0]) }],
    [
      [
        [1, 2, 4, 5, 3],
        [3, 2, 2, 3, 1],
      ],
      { pads: ints([1, 0, 0, 0, 1, 0]) },
    ],
  ];
  for (const [dims, attrs] of cases) assert.ok((await compare('Conv', dims, attrs)) < 1e-5, JSON.stringify(attrs));
});

test('ConvTranspose lowering matches onnxruntime (groups, strides, dilations, pads, output_padding)', async () => {
  const cases: [number[][], Record<string, Attr>][] = [
    [[[2, 3, 4, 4], [3, 2, 3, 3], [2]], {}],
    [
      [[2, 4, 4, 3], [4, 3, 3, 3], [6]],
      { group: int(2), strides: ints([2, 2]), pads: ints([1, 1, 1, 0]), output_padding: ints([1, 0]) },
    ],
    [
      [
        [1, 4, 5, 5],
        [4, 1, 3, 3],
      ],
      { group: int(4), dilations: ints([2, 2]), pads: ints([2, 2, 2, 2]) },
    ],
    [
      [
        [2, 3, 5],
        [3, 2, 4],
      ],
      { strides: ints([3]), output_padding: ints([2]) },
    ],
  ];
  for (const [dims, attrs] of cases)
    assert.ok((await compare('ConvTranspose', dims, attrs)) < 1e-5, JSON.stringify(attrs));
});

test('AveragePool and GlobalAveragePool lowerings match onnxruntime (count_include_pad, ceil_mode)', async () => {
  const x = [[2, 3, 7, 6]];
  const cases: Record<string, Attr>[] = [
    { kernel_shape: ints([3, 3]) },
    { kernel_shape: ints([3, 2]), strides: ints([2, 2]), pads: ints([1, 0, 1, 1]) },
    { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) },
    { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) },
    {
      kernel_shape: ints([3, 3]),
      strides: ints([2, 2]),
      pads: ints([1, 1, 1, 1]),
      ceil_mode: int(1),
      count_include_pad: int(1),
    },
    { kernel_shape: ints([3, 3]), auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) },
  ];
  for (const attrs of cases) assert.ok((await compare('AveragePool', x, attrs)) < 1e-6, JSON.stringify(attrs));
  assert.ok((await compare('GlobalAveragePool', x, {})) < 1e-6);
});

/** erf by its all-positive series, 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(2n+1)!!: no cancellation, ~1e-16 relative. */
function erfReference(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x); // erfc(6) ≈ 2e-17; the series would underflow
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 400 && term > 1e-18 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

test('Erf lowering is float64-accurate (|error| < 1e-14) and agrees with the float32 kernel', async () => {
  const xs: number[] = [];
  for (let v = -6; v <= 6; v += 0.01) xs.push(v);
  xs.push(0, 1e-300, -1e-9, 0.46875, -0.46875, 0.46875 + 1e-12, 4, -4, 4 + 1e-12, 27, -30);
  const m64 = await lowerF64(toFloat64Model(singleOp('Erf', [[xs.length]], {})));
  const out = await (await createSession(m64, { provider: 'cpu' })).run({ x0: tensor('float64', [xs.length], xs) });
  const y = out.y.data as Float64Array;
  xs.forEach((x, i) =>
    assert.ok(Math.abs(y[i] - erfReference(x)) < 1e-14, `erf(${x}) = ${y[i]}, expected ${erfReference(x)}`),
  );
  assert.ok((await compare('Erf', [[4, 50]], {})) < 1e-6);
});
