/**
 * Bias gradients over many rows (batch × tokens) are summed by a row of ones times the gradient instead of a
 * ReduceSum: checked against central differences in float64 at sizes that take that path, and against ReduceSum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, type Model } from '../ir/graph';
import { sizeOf, tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients } from './testing/gradcheck';
import { unbroadcast } from './helpers';

function biasModel(dims: number[], bias: number[]): Model {
  const g = emptyGraph('bias');
  g.inputs.push({ name: 'x', dtype: 'float64', shape: dims }, { name: 'bias', dtype: 'float64', shape: bias });
  const b = new Builder(g, 'bias', 'float64', 17);
  // Tanh after the Add, so the gradient reaching the bias differs per row
  g.outputs.push({ name: b.op('Tanh', [b.add('x', 'bias')]), dtype: 'float64', shape: dims });
  return { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

const rand = (dims: number[], r: () => number) =>
  tensor(
    'float64',
    dims,
    Array.from({ length: sizeOf(dims) }, () => 2 * r() - 1),
  );

for (const [dims, bias] of [
  [[4, 80, 6], [6]],
  [
    [3, 100, 5],
    [1, 1, 5],
  ],
  [[300, 7], [7]],
] as const)
  test(`∂bias of x [${dims}] + bias [${bias}] (${dims.slice(0, -1).reduce((a, d) => a * d, 1)} rows) matches central differences`, async () => {
    const m = biasModel([...dims], [...bias]);
    const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(3));
    const r = mulberry32(11);
    const rep = await checkGradients(m, loss, ['bias'], { x: rand([...dims], r), bias: rand([...bias], r) });
    assert.equal(rep.checked, sizeOf([...bias]));
    assert.deepEqual(rep.failures, []);
  });

test('the many-row sum is a MatMul by ones; a few rows, or a sum that keeps a leading axis, stay a ReduceSum', () => {
  for (const [from, to, op] of [
    [[4, 80, 6], [6], 'MatMul'],
    [[2, 3, 6], [6], 'ReduceSum'],
    [[4, 80, 6], [4, 1, 6], 'ReduceSum'],
  ] as const) {
    const g = emptyGraph('u');
    unbroadcast(new Builder(g, 'u', 'float32', 17), 'grad', [...from], [...to]);
    const ops = g.nodes.map((n) => n.op);
    assert.ok(ops.includes(op) && !ops.includes(op === 'MatMul' ? 'ReduceSum' : 'MatMul'), `${from}: ${ops.join(' ')}`);
  }
});
