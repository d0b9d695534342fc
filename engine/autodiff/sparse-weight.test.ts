/**
 * GPS's masked weight, y = x·W' with W' = Reshape(ScatterND(W0 flat, I, W0[I] + δ)): ∂δ as a gather of the selected
 * input rows and a row-wise product (no dense ∂L/∂W'), checked against central differences in float64 for a batched
 * MatMul ([in, out] layout) and a Gemm with transB and alpha ([out, in] layout), K = 2; recognised only where W0 is
 * frozen and the entries are k-major and distinct. The generic ScatterND rule (the patch embedding's Conv takes it)
 * is checked the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, float, int, ints, type Model } from '../ir/graph';
import { sizeOf, tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients } from './testing/gradcheck';
import { sparseWeights } from './sparse-weight';

const r = mulberry32(17);
const rand = (dims: number[]) =>
  tensor(
    'float64',
    dims,
    Array.from({ length: sizeOf(dims) }, () => 2 * r() - 1),
  );
const K = 2;
/** neuron o's k-th input: distinct per k, as GPS's top-K */
const pick = (o: number, k: number, IN: number) => (o * 3 + k * 2) % IN;

type Layout = 'in-out' | 'out-in' | 'conv1x1' | 'conv1x1-stride2' | 'conv1x1-padded';
const CONV_X = [2, 0, 5, 4];

/**
 * a layer `IN` → `OUT` (a MatMul, a Gemm, or a 1×1 convolution of a [2, IN, 5, 4] input); neurons read inputs in the
 * order `pick` gives; `order` permutes the entries
 */
function model(layout: Layout, IN: number, OUT: number, order = (e: number) => e): Model {
  const g = emptyGraph('sw');
  const conv = layout.startsWith('conv');
  const xDims = layout === 'in-out' ? [2, 3, IN] : conv ? CONV_X.map((d, i) => (i === 1 ? IN : d)) : [6, IN];
  g.inputs.push({ name: 'x', dtype: 'float64', shape: xDims }, { name: 'delta', dtype: 'float64', shape: [OUT, K] });
  const shape = layout === 'in-out' ? [IN, OUT] : conv ? [OUT, IN, 1, 1] : [OUT, IN];
  g.initializers.set('W0', rand(shape));
  const flatAt = (e: number) => {
    const [o, k] = [e % OUT, Math.floor(e / OUT)];
    return layout === 'in-out' ? pick(o, k, IN) * OUT + o : o * IN + pick(o, k, IN);
  };
  const at = Array.from({ length: K * OUT }, (_, e) => flatAt(order(e)));
  g.initializers.set('I', tensor('int64', [K * OUT, 1], at));
  const b = new Builder(g, 'sw', 'float64', 17);
  const flat = b.reshape('W0', [IN * OUT]);
  const d = b.reshape(b.transpose('delta', [1, 0]), [K * OUT]);
  const w = b.reshape(b.op('ScatterND', [flat, 'I', b.add(b.op('GatherND', [flat, 'I']), d)]), shape);
  const y =
    layout === 'in-out'
      ? b.matmul('x', w)
      : layout === 'out-in'
        ? b.op('Gemm', ['x', w], { transB: int(1), alpha: float(1.5) })
        : b.op('Conv', ['x', w], {
            strides: ints(layout === 'conv1x1-stride2' ? [2, 2] : [1, 1]),
            pads: ints(layout === 'conv1x1-padded' ? [1, 0, 1, 0] : [0, 0, 0, 0]),
          });
  g.outputs.push({ name: b.op('Tanh', [y]), dtype: 'float64', shape: [] });
  return { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

/** `trains` and what depends on them */
const activeFor = (m: Model, trains: string[]) => {
  const on = new Set(trains);
  for (const n of m.graph.nodes) if (n.inputs.some((i) => on.has(i))) n.outputs.forEach((o) => on.add(o));
  return (t: string) => on.has(t);
};
/** the static shapes sparseWeights reads: U's (an Add of two [E] vectors), W''s (from its Reshape) and the inputs' */
const dimsOf = (m: Model) => (t: string) => {
  const input = m.graph.inputs.find((i) => i.name === t);
  if (input) return input.shape as number[];
  const n = m.graph.nodes.find((k) => k.outputs[0] === t);
  if (n?.op === 'Add') return [m.graph.initializers.get('I')!.dims[0]];
  if (n?.op !== 'Reshape') return undefined;
  return Array.from(m.graph.initializers.get(n.inputs[1])!.data as BigInt64Array, Number);
};

for (const layout of ['in-out', 'out-in', 'conv1x1', 'conv1x1-stride2'] as const)
  for (const [IN, OUT] of [
    [5, 4],
    [3, 6],
  ])
    test(`sparse weight (${layout}, ${IN} → ${OUT}, K = ${K}): ∂x and ∂δ match central differences`, async () => {
      const m = model(layout, IN, OUT);
      const found = sparseWeights(m.graph, activeFor(m, ['x', 'delta']), dimsOf(m));
      assert.equal(found.size, 1, 'recognised');
      const sw = [...found.values()][0];
      assert.deepEqual(
        sw.rows,
        Array.from({ length: K * OUT }, (_, i) => pick(i % OUT, Math.floor(i / OUT), IN)),
      );
      const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(9));
      const xDims = m.graph.inputs[0].shape as number[];
      const rep = await checkGradients(m, loss, ['x', 'delta'], { x: rand(xDims), delta: rand([OUT, K]) });
      assert.equal(rep.checked, sizeOf(xDims) + OUT * K);
      assert.deepEqual(rep.failures, []);
    });

test('a 1×1 convolution with padding is left to the generic rules (float64-checked too)', async () => {
  const m = model('conv1x1-padded', 5, 4);
  assert.equal(sparseWeights(m.graph, activeFor(m, ['x', 'delta']), dimsOf(m)).size, 0, 'padded');
  const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(3));
  const xDims = m.graph.inputs[0].shape as number[];
  const rep = await checkGradients(m, loss, ['x', 'delta'], { x: rand(xDims), delta: rand([4, K]) });
  assert.equal(rep.checked, sizeOf(xDims) + 4 * K);
  assert.deepEqual(rep.failures, []);
});

test('a trainable W0, or entries out of k-major order, are left to the generic rules (float64-checked too)', async () => {
  const m = model('in-out', 5, 4);
  assert.equal(sparseWeights(m.graph, activeFor(m, ['x', 'delta', 'W0']), dimsOf(m)).size, 0, 'W0 trains');
  const swapped = (e: number) => (e < 2 ? 1 - e : e);
  const n = model('out-in', 5, 4, swapped);
  assert.equal(sparseWeights(n.graph, activeFor(n, ['x', 'delta']), dimsOf(n)).size, 0, 'entries 0 and 1 swapped');
  // the generic rules then: the product's dense ∂W', and ScatterND's ∂updates, which gathers it
  const loss = await addProjectionLoss(n, [n.graph.outputs[0].name], mulberry32(5));
  const xDims = n.graph.inputs[0].shape as number[];
  const rep = await checkGradients(n, loss, ['x', 'delta'], { x: rand(xDims), delta: rand([4, K]) });
  assert.equal(rep.checked, sizeOf(xDims) + 4 * K);
  assert.deepEqual(rep.failures, []);
});
