/**
 * Every gradient rule against central finite differences in float64 (testing/gradcheck.ts):
 * every differentiable input of every op, every entry, over the attribute variants that matter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float, int, ints, str } from '../ir/graph';
import { int64s, tensor } from '../ir/tensor';
import { GRADIENT_RULES } from './rules';
import { gen, gradcheckOp, type OpCase } from './testing/gradcheck';

const i64 = (v: number[]) => ({ value: int64s(v) });
const f64 = (dims: number[], v: number[]) => ({ value: tensor('float64', dims, v) });
const x = (...dims: number[]) => ({ dims });
const pos = (...dims: number[]) => ({ dims, gen: gen.uniform(0.5, 2) });
const off0 = (...dims: number[]) => ({ dims, gen: gen.awayFromZero() });
const distinct = (...dims: number[]) => ({ dims, distinct: true });

type Case = Omit<OpCase, 'op'>;

const CASES: Record<string, Case[]> = {
  Add: [{ inputs: [x(2, 3), x(3)] }, { inputs: [x(2, 1, 4), x(3, 1)] }],
  Sub: [{ inputs: [x(2, 3), x(2, 1)] }],
  Mul: [{ inputs: [x(2, 3, 4), x(4)] }, { inputs: [x(), x(2, 3)] }],
  Div: [{ inputs: [x(2, 3), off0(1, 3)] }],
  Pow: [
    { inputs: [pos(2, 3), x(3)] },
    // Optimum LayerNorm's Pow(x − μ, 2): negative bases, constant exponent
    { inputs: [x(2, 3), f64([], [2])] },
    { inputs: [off0(2, 3), f64([1], [3])] },
    { inputs: [pos(2, 3), f64([], [-0.5])] },
  ],
  Sum: [{ inputs: [x(2, 3), x(3), x(1, 1)] }],
  Neg: [{ inputs: [x(2, 3)] }],
  Abs: [{ inputs: [off0(2, 3)] }],
  Identity: [{ inputs: [x(2, 3)] }],
  Dropout: [{ inputs: [x(2, 3)] }, { inputs: [x(2, 3), f64([], [0.3])], outputs: 2 }],
  Exp: [{ inputs: [x(2, 3)] }],
  Log: [{ inputs: [pos(2, 3)] }],
  Sqrt: [{ inputs: [pos(2, 3)] }],
  Sigmoid: [{ inputs: [{ dims: [2, 3], gen: gen.uniform(-3, 3) }] }],
  Tanh: [{ inputs: [{ dims: [2, 3], gen: gen.uniform(-2, 2) }] }],
  Erf: [{ inputs: [{ dims: [3, 5], gen: gen.uniform(-3, 3) }] }],
  Relu: [{ inputs: [off0(3, 4)] }],
  Clip: [
    { inputs: [{ dims: [3, 4], gen: gen.uniform(-1.5, 1.5) }, f64([], [-0.5]), f64([], [0.7])] },
    { inputs: [{ dims: [3, 4], gen: gen.uniform(-1.5, 1.5) }, null, f64([], [0.25])] },
  ],
  Cast: [{ inputs: [x(2, 3)], attrs: { to: int(11) } }],
  Where: [{ inputs: [{ value: tensor('bool', [2, 3], [1, 0, 1, 1, 0, 0]) }, x(2, 3), x(3)] }],
  MatMul: [
    { inputs: [x(2, 3), x(3, 4)] },
    { inputs: [x(2, 2, 3), x(3, 4)] },
    { inputs: [x(2, 1, 2, 3), x(3, 3, 4)] },
    { inputs: [x(3), x(2, 3, 4)] },
    { inputs: [x(2, 3), x(3)] },
    { inputs: [x(3), x(3)] },
  ],
  Gemm: [
    { inputs: [x(2, 3), x(3, 4), x(4)] },
    { inputs: [x(3, 2), x(3, 4), x(2, 1)], attrs: { transA: int(1), alpha: float(0.7), beta: float(1.3) } },
    { inputs: [x(2, 3), x(4, 3), x(2, 4)], attrs: { transB: int(1) } },
    { inputs: [x(3, 2), x(4, 3)], attrs: { transA: int(1), transB: int(1), alpha: float(-2) } },
  ],
  Reshape: [{ inputs: [x(2, 3, 4), i64([4, -1])] }],
  Flatten: [{ inputs: [x(2, 3, 2, 2)], attrs: { axis: int(2) } }],
  Squeeze: [{ inputs: [x(2, 1, 3), i64([1])] }],
  Unsqueeze: [{ inputs: [x(2, 3), i64([0, 3])] }],
  Transpose: [{ inputs: [x(2, 3, 4)], attrs: { perm: ints([2, 0, 1]) } }, { inputs: [x(2, 3, 4)] }],
  Expand: [{ inputs: [x(3, 1), i64([2, 3, 4])] }],
  Concat: [{ inputs: [x(2, 1, 3), x(2, 2, 3), x(2, 3, 3)], attrs: { axis: int(-2) } }],
  Split: [
    { inputs: [x(2, 4, 3), i64([1, 2, 1])], attrs: { axis: int(1) }, outputs: 3 },
    { inputs: [x(4, 3)], outputs: 2 },
    { inputs: [x(2, 5)], attrs: { axis: int(1), split: ints([2, 3]) }, outputs: 2, opset: 11 },
  ],
  Slice: [
    { inputs: [x(4, 5), i64([1, -4]), i64([3, 100])] },
    { inputs: [x(4, 6), i64([0]), i64([6]), i64([1]), i64([2])] },
    { inputs: [x(4, 5), i64([-1]), i64([-1000]), i64([0]), i64([-1])] },
    { inputs: [x(3, 7, 4), i64([5, 3]), i64([0, -100]), i64([-2, 2]), i64([-2, -3])] },
    // opset < 10: starts/ends/axes are attributes
    { inputs: [x(4, 5)], attrs: { starts: ints([1]), ends: ints([-1]), axes: ints([1]) }, opset: 9 },
  ],
  Gather: [
    { inputs: [x(4, 3), { value: tensor('int64', [], [2]) }] },
    { inputs: [x(2, 5, 3), { value: tensor('int64', [2, 3], [0, -1, 4, 2, 2, -5]) }], attrs: { axis: int(1) } },
    { inputs: [x(2, 3, 4), i64([3, -1, 0])], attrs: { axis: int(-1) } },
    // before opset 16 (no ScatterND reduction): the one-hot product
    {
      inputs: [x(2, 5, 3), { value: tensor('int64', [2, 3], [0, -1, 4, 2, 2, -5]) }],
      attrs: { axis: int(1) },
      opset: 13,
    },
  ],
  // data and updates both trained; indices distinct (GPS's masked weight: a flat W0, one index per entry)
  ScatterND: [
    { inputs: [x(12), { value: tensor('int64', [4, 1], [7, 0, 11, 3]) }, x(4)] },
    { inputs: [x(3, 4, 2), { value: tensor('int64', [2, 2], [2, 1, 0, 3]) }, x(2, 2)] },
    {
      inputs: [x(3, 4), { value: tensor('int64', [3, 2], [0, 1, 2, 3, 1, 1]) }, x(3)],
      attrs: { reduction: str('add') },
    },
  ],
  ReduceSum: [
    { inputs: [x(2, 3, 4), i64([1])] },
    { inputs: [x(2, 3, 4), i64([0, -1])], attrs: { keepdims: int(0) } },
    { inputs: [x(2, 3, 4)], attrs: { keepdims: int(0) } },
  ],
  ReduceMean: [
    { inputs: [x(2, 3, 4)], attrs: { axes: ints([0, 2]) } },
    { inputs: [x(2, 3, 4)], attrs: { axes: ints([-1]), keepdims: int(0) }, opset: 13 },
    { inputs: [x(2, 3, 4), i64([1])], opset: 18 },
  ],
  ReduceSumSquare: [
    { inputs: [x(2, 3, 4)], attrs: { axes: ints([1]) } },
    { inputs: [x(2, 3, 4), i64([0, 2])], opset: 18 },
  ],
  Softmax: [
    { inputs: [x(2, 3, 4)] },
    { inputs: [x(2, 3, 4)], attrs: { axis: int(1) } },
    { inputs: [x(2, 3, 4)], attrs: { axis: int(1) }, opset: 11 },
  ],
  LogSoftmax: [
    { inputs: [x(2, 5)] },
    { inputs: [x(2, 3, 4)], attrs: { axis: int(0) } },
    { inputs: [x(2, 3, 4)], opset: 11 },
  ],
  LayerNormalization: [
    { inputs: [x(2, 3, 5), x(5), x(5)] },
    { inputs: [x(2, 3, 4), x(3, 4), x(3, 4)], attrs: { axis: int(1), epsilon: float(1e-3) } },
    { inputs: [x(2, 4), x(4)] },
    // opset 18: the backward's ReduceMean takes axes as an input
    { inputs: [x(2, 3, 5), x(5), x(5)], opset: 18 },
  ],
  BatchNormalization: [
    { inputs: [x(2, 3, 3, 2), x(3), x(3), f64([3], [0.1, -0.2, 0.3]), f64([3], [0.5, 1.5, 2])] },
    { inputs: [x(4, 3), x(3), x(3), f64([3], [0, 1, -1]), f64([3], [1, 0.3, 2])], attrs: { epsilon: float(1e-3) } },
  ],
  Conv: [
    { inputs: [x(2, 3, 5, 4), x(4, 3, 3, 3), x(4)], attrs: { pads: ints([1, 1, 1, 1]) } },
    // 1×1: dW as a batched product, strided (an input sampled every other row) or not, 2-D and 1-D
    { inputs: [x(2, 3, 4, 5), x(4, 3, 1, 1), x(4)] },
    { inputs: [x(2, 3, 5, 6), x(2, 3, 1, 1)], attrs: { strides: ints([2, 3]) } },
    { inputs: [x(3, 2, 7), x(5, 2, 1)], attrs: { strides: ints([2]) } },
    { inputs: [x(2, 4, 3, 3), x(6, 2, 1, 1)], attrs: { group: int(2) } },
    // stride 1, grouped, dilated, padded unevenly: ∂x as a Conv with the kernel flipped; a 1×1 padded one, whose
    // window reaches past x, takes ConvTranspose
    {
      inputs: [x(2, 4, 5, 6), x(6, 2, 3, 3), x(6)],
      attrs: { group: int(2), dilations: ints([1, 2]), pads: ints([1, 0, 2, 3]) },
    },
    { inputs: [x(1, 2, 3, 3), x(3, 2, 1, 1)], attrs: { pads: ints([1, 1, 1, 1]) } },
    {
      inputs: [x(2, 4, 6, 6), x(6, 2, 3, 3), x(6)],
      attrs: { group: int(2), strides: ints([2, 2]), pads: ints([1, 0, 2, 1]) },
    },
    {
      inputs: [x(1, 4, 7, 6), x(4, 1, 3, 3)],
      attrs: { group: int(4), dilations: ints([2, 1]), pads: ints([2, 1, 2, 1]) },
    },
    { inputs: [x(2, 3, 7, 5), x(2, 3, 2, 3)], attrs: { auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) } },
    { inputs: [x(2, 3, 8, 8), x(2, 3, 3, 3)], attrs: { strides: ints([3, 2]), dilations: ints([1, 2]) } },
    { inputs: [x(2, 3, 9), x(4, 3, 3), x(4)], attrs: { strides: ints([2]), pads: ints([1, 0]) } },
    {
      inputs: [x(1, 2, 4, 4, 3), x(3, 2, 2, 3, 2), x(3)],
      attrs: { strides: ints([2, 1, 1]), pads: ints([0, 1, 0, 1, 1, 1]) },
    },
    {
      inputs: [x(2, 2, 6, 5), x(4, 1, 3, 2)],
      attrs: { group: int(2), auto_pad: str('SAME_LOWER'), strides: ints([2, 2]) },
    },
  ],
  MaxPool: [
    {
      inputs: [distinct(2, 2, 5, 5)],
      attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
    },
    { inputs: [distinct(1, 2, 4, 5)], attrs: { kernel_shape: ints([2, 3]) } },
    { inputs: [distinct(1, 2, 6, 5)], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) } },
    { inputs: [distinct(1, 2, 7, 7)], attrs: { kernel_shape: ints([2, 2]), dilations: ints([2, 2]) } },
    {
      inputs: [distinct(2, 3, 7)],
      attrs: { kernel_shape: ints([3]), strides: ints([2]), pads: ints([1, 1]) },
      outputs: 2,
    },
    {
      inputs: [distinct(1, 2, 5, 6)],
      attrs: { kernel_shape: ints([3, 2]), strides: ints([2, 2]), auto_pad: str('SAME_UPPER') },
    },
  ],
  AveragePool: [
    { inputs: [x(2, 2, 5, 5)], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
    {
      inputs: [x(2, 2, 5, 5)],
      attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) },
    },
    { inputs: [x(1, 2, 5, 6)], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) } },
  ],
  GlobalAveragePool: [{ inputs: [x(2, 3, 3, 4)] }],
};

for (const [op, cases] of Object.entries(CASES)) {
  test(`${op}: gradient matches central differences (float64)`, async () => {
    for (const [k, c] of cases.entries()) {
      const rep = await gradcheckOp({ op, ...c, seed: c.seed ?? k + 1 });
      assert.ok(rep.checked > 0, `${op} case ${k}: nothing checked`);
      assert.deepEqual(rep.failures, [], `${op} case ${k}`);
      assert.deepEqual(rep.vanishing, [], `${op} case ${k}: all-zero gradients check nothing`);
    }
  });
}

test('every registered gradient rule is gradient-checked here', () => {
  const untested = Object.keys(GRADIENT_RULES).filter((op) => !CASES[op]);
  assert.deepEqual(untested, []);
});
