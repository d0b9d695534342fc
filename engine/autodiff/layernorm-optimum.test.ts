/**
 * Hugging Face Optimum exports at opset < 17 spell LayerNorm out as
 * ReduceMean → Sub → Pow(·, 2) → ReduceMean → Add(ε) → Sqrt → Div → Mul(γ) → Add(β).
 * The whole subgraph is gradient-checked, and checked to equal the fused LayerNormalization.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, int, ints, type Model } from '../ir/graph';
import { scalar, sizeOf, tensor, type Tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients, plainSession } from './testing/gradcheck';

const DIMS = [2, 3, 8];

/** Optimum's LayerNorm over the last axis, built node by node as the exporter writes it. */
function optimumLayerNorm(opset: number): Model {
  const g = emptyGraph('optimum_ln');
  g.inputs.push(
    { name: 'x', dtype: 'float64', shape: DIMS },
    { name: 'gamma', dtype: 'float64', shape: [8] },
    { name: 'beta', dtype: 'float64', shape: [8] },
  );
  const b = new Builder(g, 'ln', 'float64', opset);
  const mean = b.op('ReduceMean', ['x'], { axes: ints([-1]), keepdims: int(1) });
  const d = b.sub('x', mean);
  const sq = b.op('Pow', [d, b.constant(scalar('float64', 2), 'two')]);
  const variance = b.op('ReduceMean', [sq], { axes: ints([-1]), keepdims: int(1) });
  const std = b.sqrt(b.add(variance, b.constant(scalar('float64', 1e-5), 'eps')));
  const y = b.add(b.mul(b.div(d, std), 'gamma'), 'beta');
  g.outputs.push({ name: y, dtype: 'float64', shape: DIMS });
  return { graph: g, opset, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

function feeds(seed: number): Record<string, Tensor> {
  const r = mulberry32(seed);
  const rand = (dims: number[], lo: number, hi: number) =>
    tensor(
      'float64',
      dims,
      Array.from({ length: sizeOf(dims) }, () => lo + (hi - lo) * r()),
    );
  return { x: rand(DIMS, -2, 2), gamma: rand([8], 0.5, 1.5), beta: rand([8], -0.5, 0.5) };
}

for (const opset of [14, 15]) {
  test(`Optimum-style LayerNorm subgraph (opset ${opset}): gradients of x, γ, β match central differences`, async () => {
    const m = optimumLayerNorm(opset);
    const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(5));
    const rep = await checkGradients(m, loss, ['x', 'gamma', 'beta'], feeds(opset));
    assert.equal(rep.checked, 48 + 8 + 8);
    assert.deepEqual(rep.failures, []);
    assert.deepEqual(rep.vanishing, []);
  });
}

test('the Optimum subgraph computes what LayerNormalization computes', async () => {
  const m = optimumLayerNorm(15);
  const f = feeds(3);
  const spelled = (await (await plainSession(m)).run(f))[m.graph.outputs[0].name].data as Float64Array;
  const g = emptyGraph('fused');
  g.inputs = m.graph.inputs.map((v) => ({ ...v }));
  g.nodes.push({
    name: 'ln',
    op: 'LayerNormalization',
    domain: '',
    inputs: ['x', 'gamma', 'beta'],
    outputs: ['y'],
    attrs: { epsilon: { kind: 'float', value: 1e-5 } },
  });
  g.outputs.push({ name: 'y', dtype: 'float64', shape: DIMS });
  const fused = (await (await plainSession({ ...m, graph: g, opset: 17 })).run(f)).y.data as Float64Array;
  // ε is a float32 attribute on LayerNormalization and a float64 constant in the subgraph: ~1e-13 apart
  fused.forEach((v, i) => assert.ok(Math.abs(v - spelled[i]) < 1e-10, `${i}: ${v} vs ${spelled[i]}`));
});
