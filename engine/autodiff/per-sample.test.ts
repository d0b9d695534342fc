/**
 * PACE's noisy layer as one batched product, y_s = x_s·(W0 + W' ⊙ z_s): ∂W' as one product x̄ᵀ·(∂y ⊙ z)‾ (no
 * per-sample [rows, in, out] gradient), checked against central differences in float64 with ∂x; recognised only
 * where W0 and z are constant; and ∂x reads W_s built again, which onnxruntime's optimiser keeps apart from the
 * forward's (so no [rows, in, out] weight lives from the forward to the backward).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../onnx/io';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, type Model } from '../ir/graph';
import { sizeOf, tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients } from './testing/gradcheck';
import { perSampleWeights } from './per-sample';

const r = mulberry32(11);
const rand = (dims: number[], around = 0) =>
  tensor(
    'float64',
    dims,
    Array.from({ length: sizeOf(dims) }, () => around + 2 * r() - 1),
  );
const [ROWS, T, IN, OUT] = [3, 4, 5, 6];

/** y = x·(W0 + (P·Q) ⊙ z) with W0 [in, out] (transposed from [out, in] if `torchLayout`), read by one MatMul */
function model(torchLayout: boolean, zFirst: boolean): Model {
  const g = emptyGraph('ps');
  g.inputs.push(
    { name: 'x', dtype: 'float64', shape: [ROWS, T, IN] },
    { name: 'P', dtype: 'float64', shape: [IN, 2] },
    { name: 'Q', dtype: 'float64', shape: [2, OUT] },
  );
  g.initializers.set('W0', rand(torchLayout ? [OUT, IN] : [IN, OUT]));
  g.initializers.set('z', rand([ROWS, 1, OUT], 1));
  const b = new Builder(g, 'ps', 'float64', 17);
  const w0 = torchLayout ? b.transpose('W0', [1, 0]) : 'W0';
  const wp = b.mul(w0, b.matmul('P', 'Q'));
  const ws = zFirst ? b.add(w0, b.mul('z', wp)) : b.add(b.mul(wp, 'z'), w0);
  g.outputs.push({ name: b.op('Tanh', [b.matmul('x', ws)]), dtype: 'float64', shape: [] });
  return { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
}

/** static shapes of the model above: W_s is the Add's output, every other node output is [in, out] or the result */
const dimsOf = (m: Model) => (t: string) => {
  const known = m.graph.initializers.get(t)?.dims ?? m.graph.inputs.find((i) => i.name === t)?.shape;
  if (known) return known.map(Number);
  const n = m.graph.nodes.find((k) => k.outputs[0] === t);
  return n?.op === 'Add' ? [ROWS, IN, OUT] : n?.op === 'MatMul' && n.inputs[0] === 'x' ? [ROWS, T, OUT] : [IN, OUT];
};
/** `trains` and what depends on them */
const activeFor = (m: Model, trains: string[]) => {
  const on = new Set(trains);
  for (const n of m.graph.nodes) if (n.inputs.some((i) => on.has(i))) n.outputs.forEach((o) => on.add(o));
  return (t: string) => on.has(t);
};

for (const [name, torchLayout, zFirst] of [
  ['W0 [in, out], W′ ⊙ z + W0', false, false],
  ['W0 [out, in] transposed, W0 + z ⊙ W′', true, true],
] as const)
  test(`per-sample weight, ${name}: ∂x and ∂W′'s factors match central differences`, async () => {
    const m = model(torchLayout, zFirst);
    assert.equal(perSampleWeights(m.graph, activeFor(m, ['x', 'P', 'Q']), dimsOf(m)).size, 1, 'recognised');
    const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(9));
    const rep = await checkGradients(m, loss, ['x', 'P', 'Q'], {
      x: rand([ROWS, T, IN]),
      P: rand([IN, 2]),
      Q: rand([2, OUT]),
    });
    assert.equal(rep.checked, ROWS * T * IN + IN * 2 + 2 * OUT);
    assert.deepEqual(rep.failures, []);
  });

test('a per-sample weight is recognised only with constant W0 and z, and W_s read once', () => {
  const m = model(false, false);
  const found = (trains: string[]) => perSampleWeights(m.graph, activeFor(m, trains), dimsOf(m)).size;
  assert.equal(found(['x', 'P', 'Q']), 1, 'recognised');
  assert.equal(found(['x', 'P', 'Q', 'W0']), 0, 'W0 trains');
  assert.equal(found(['x', 'P', 'Q', 'z']), 0, 'z trains');
  const ws = m.graph.nodes.find((n) => n.op === 'Add')!.outputs[0];
  m.graph.outputs.push({ name: ws, dtype: 'float64', shape: [] });
  assert.equal(found(['x', 'P', 'Q']), 0, 'W_s is also an output');
});

test('∂x reads W_s built again in the backward, also after onnxruntime optimises the graph', async () => {
  const m = model(true, true);
  const loss = await addProjectionLoss(m, [m.graph.outputs[0].name], mulberry32(9));
  const feeds = { x: rand([ROWS, T, IN]), P: rand([IN, 2]), Q: rand([2, OUT]) };
  const rep = await checkGradients(m, loss, ['x', 'P', 'Q'], feeds, { samples: 3 });
  assert.deepEqual(rep.failures, []);
  // W_s: an Add of a Mul that reads z. The forward's feeds only the forward product; a second one feeds ∂x.
  const weights = (g: Model['graph']) => {
    const scaled = new Set(g.nodes.filter((n) => n.op === 'Mul' && n.inputs.includes('z')).flatMap((n) => n.outputs));
    return g.nodes.filter((n) => n.op === 'Add' && n.inputs.some((i) => scaled.has(i))).map((n) => n.outputs[0]);
  };
  const readers = (g: Model['graph'], t: string) => g.nodes.filter((n) => n.inputs.includes(t)).length;
  const built = weights(rep.model.graph);
  assert.equal(built.length, 2, 'W_s in the forward and again in the backward');
  assert.deepEqual(
    built.map((t) => readers(rep.model.graph, t)),
    [1, 1],
  );
  const dir = mkdtempSync(join(tmpdir(), 'attune-ps-'));
  try {
    const file = join(dir, 'optimised.onnx');
    const s = await ort.InferenceSession.create(encodeModel(rep.model), {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: file,
      logSeverityLevel: 3,
    });
    await s.release();
    assert.equal(weights(decodeModel(new Uint8Array(readFileSync(file)), dir).graph).length, 2, 'not merged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
