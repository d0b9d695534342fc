/** The derived output shapes agree with what onnxruntime produces; uncertain cases are left to it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyGraph, int, ints, type Attr, type Node } from './graph';
import { probe, type TensorInfo } from './fold';
import { int64s, tensor } from './tensor';
import { inferOutputs } from './shape-rules';

const cases: {
  op: string;
  ins: number[][];
  attrs?: Record<string, Attr>;
  /** Reshape's shape input */
  shape?: number[];
  /** a Reduce's axes input */
  axes?: number[];
}[] = [
  { op: 'ReduceSum', ins: [[1, 4, 3]], axes: [0], attrs: { keepdims: int(0) } },
  { op: 'ReduceSum', ins: [[2, 4, 3]], axes: [-1] },
  { op: 'ReduceSum', ins: [[2, 4, 3]] },
  { op: 'Add', ins: [[2, 3, 4], [4]] },
  {
    op: 'Mul',
    ins: [
      [2, 1, 4],
      [3, 1],
    ],
  },
  { op: 'Sub', ins: [[5], [2, 5]] },
  { op: 'Tanh', ins: [[2, 3]] },
  {
    op: 'MatMul',
    ins: [
      [2, 7, 4],
      [4, 5],
    ],
  },
  {
    op: 'MatMul',
    ins: [
      [3, 1, 7, 4],
      [2, 4, 5],
    ],
  },
  {
    op: 'Gemm',
    ins: [
      [4, 6],
      [5, 6],
    ],
    attrs: { transB: int(1) },
  },
  {
    op: 'Gemm',
    ins: [
      [6, 4],
      [6, 5],
    ],
    attrs: { transA: int(1) },
  },
  { op: 'Transpose', ins: [[2, 3, 4]], attrs: { perm: ints([2, 0, 1]) } },
  { op: 'Transpose', ins: [[2, 3, 4]] },
  { op: 'Reshape', ins: [[2, 3, 4]], shape: [0, -1] },
  { op: 'Reshape', ins: [[2, 3, 4]], shape: [4, 6] },
  {
    op: 'Concat',
    ins: [
      [2, 3],
      [5, 3],
    ],
    attrs: { axis: int(0) },
  },
  {
    op: 'Concat',
    ins: [
      [2, 3],
      [2, 1],
    ],
    attrs: { axis: int(-1) },
  },
];

for (const c of cases)
  test(`${c.op} [${c.ins.map((d) => d.join('×')).join('] [')}]${c.shape ? ` → [${c.shape}]` : ''}: as onnxruntime`, async () => {
    const g = emptyGraph('s');
    const names = c.ins.map((_, i) => `x${i}`);
    c.ins.forEach((dims, i) => g.inputs.push({ name: names[i], dtype: 'float32', shape: dims }));
    if (c.shape) g.initializers.set('shape', int64s(c.shape));
    if (c.axes) g.initializers.set('axes', int64s(c.axes));
    const node: Node = {
      name: 'n',
      op: c.op,
      domain: '',
      inputs: c.shape ? [...names, 'shape'] : c.axes ? [...names, 'axes'] : names,
      outputs: ['y'],
      attrs: c.attrs ?? {},
    };
    g.nodes.push(node);
    g.outputs.push({ name: 'y', dtype: 'float32', shape: [] });
    const feeds = Object.fromEntries(c.ins.map((dims, i) => [names[i], tensor('float32', dims)]));
    const measured = (await probe(g, 17, feeds, () => false)).shapes.get('y');
    // as compiling sees them: graph inputs and initializers
    const info = (n: string): TensorInfo | undefined => {
      const t = g.initializers.get(n);
      if (t) return { dtype: t.dtype, dims: t.dims };
      const i = c.ins[names.indexOf(n)];
      return i && { dtype: 'float32', dims: i };
    };
    assert.deepEqual(
      inferOutputs(node, info, (n) => g.initializers.get(n)),
      [measured],
    );
  });

test('what does not fit, or is not one of these ops, is left to onnxruntime', () => {
  const node = (op: string, inputs: string[], attrs: Record<string, Attr> = {}): Node => ({
    name: 'n',
    op,
    domain: '',
    inputs,
    outputs: ['y'],
    attrs,
  });
  const dims: Record<string, number[]> = { a: [2, 3], b: [4, 5], v: [3], c: [2, 3] };
  const info = (n: string): TensorInfo | undefined => dims[n] && { dtype: 'float32', dims: dims[n] };
  const none = () => undefined;
  assert.equal(inferOutputs(node('MatMul', ['a', 'b']), info, none), undefined, 'inner dimensions differ');
  assert.equal(inferOutputs(node('MatMul', ['a', 'v']), info, none), undefined, 'a vector operand');
  assert.equal(inferOutputs(node('Add', ['a', 'b']), info, none), undefined, 'no broadcast');
  assert.equal(inferOutputs(node('Reshape', ['a', 'c']), info, none), undefined, 'a shape that is not a constant');
  assert.equal(inferOutputs(node('Softmax', ['a']), info, none), undefined, 'not a derived op');
  assert.equal(inferOutputs(node('Add', ['a', 'missing']), info, none), undefined, 'an input without a shape');
});
