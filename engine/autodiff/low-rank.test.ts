/**
 * LoRA's merged form, y = x·(W + s·A·B) with W frozen: ∂A and ∂B as rank-r products (no dense ∂L/∂W'), checked
 * against central differences in float64 for a batched MatMul, a Gemm with transB and alpha, and a transposed
 * product; and recognised only where W is frozen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, float, int, type Model } from '../ir/graph';
import { sizeOf, tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients } from './testing/gradcheck';
import { lowRankWeights } from './low-rank';

const r = mulberry32(5);
const rand = (dims: number[]) =>
  tensor(
    'float64',
    dims,
    Array.from({ length: sizeOf(dims) }, () => 2 * r() - 1),
  );

/** x [xDims] times W' = W + s·P, P = A·B or (A·B)ᵀ, read by a MatMul or a Gemm */
function model(o: {
  xDims: number[];
  w: number[];
  a: number[];
  b: number[];
  transpose: boolean;
  consumer: 'MatMul' | 'Gemm';
  transB?: boolean;
  alpha?: number;
  scale: number;
}): Model {
  const g = emptyGraph('lr');
  g.inputs.push(
    { name: 'x', dtype: 'float64', shape: o.xDims },
    { name: 'A', dtype: 'float64', shape: o.a },
    { name: 'B', dtype: 'float64', shape: o.b },
  );
  g.initializers.set('W', rand(o.w));
  const b = new Builder(g, 'lr', 'float64', 17);
  let p = b.matmul('A', 'B');
  if (o.scale !== 1) p = b.mul(p, b.scalar(o.scale));
  if (o.transpose) p = b.transpose(p, [1, 0]);
  const weff = b.add('W', p);
  const y =
    o.consumer === 'MatMul'
      ? b.matmul('x', weff)
      : b.op('Gemm', ['x', weff], { transB: int(o.transB ? 1 : 0), alpha: float(o.alpha ?? 1) });
  g.outputs.push({ name: b.op('Tanh', [y]), dtype: 'float64', shape: [] });
  return { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

const cases = {
  'batched MatMul, W [in, out], scale 0.5': {
    xDims: [2, 5, 6],
    w: [6, 4],
    a: [6, 3],
    b: [3, 4],
    transpose: false,
    consumer: 'MatMul' as const,
    scale: 0.5,
  },
  'Gemm with transB (torch layout W [out, in]) and alpha 1.5': {
    xDims: [5, 6],
    w: [4, 6],
    a: [6, 3],
    b: [3, 4],
    transpose: true,
    consumer: 'Gemm' as const,
    transB: true,
    alpha: 1.5,
    scale: 2,
  },
  'Gemm without transB, P = (A·B)ᵀ': {
    xDims: [5, 6],
    w: [6, 4],
    a: [4, 3],
    b: [3, 6],
    transpose: true,
    consumer: 'Gemm' as const,
    scale: 1,
  },
};

for (const [name, c] of Object.entries(cases))
  test(`low-rank weight, ${name}: ∂x, ∂A, ∂B match central differences`, async () => {
    const m = model(c);
    assert.equal(lowRankWeights(m.graph, (t) => ['x', 'A', 'B'].includes(t)).size, 1, 'recognised');
    const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(9));
    const rep = await checkGradients(m, loss, ['x', 'A', 'B'], { x: rand(c.xDims), A: rand(c.a), B: rand(c.b) });
    assert.equal(rep.checked, sizeOf(c.xDims) + sizeOf(c.a) + sizeOf(c.b));
    assert.deepEqual(rep.failures, []);
  });

test('a trainable W, or W′ read twice, is left to the generic rules', () => {
  const m = model(cases['batched MatMul, W [in, out], scale 0.5']);
  assert.equal(lowRankWeights(m.graph, (t) => ['x', 'A', 'B', 'W'].includes(t)).size, 0, 'W trains too');
  const weff = m.graph.nodes.find((n) => n.op === 'Add')!.outputs[0];
  m.graph.outputs.push({ name: weff, dtype: 'float64', shape: [] });
  assert.equal(lowRankWeights(m.graph, (t) => ['x', 'A', 'B'].includes(t)).size, 0, "W' is also an output");
});
