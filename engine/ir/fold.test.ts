import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldConstants, probe } from './fold';
import { loadModel } from '../onnx/io';
import { createSession } from '../runtime/session';
import { tensor } from './tensor';
import { MODELS } from '../testing/fixtures';
import { isAttuneError } from '../errors';

test('shape chains, Constant and ConstantOfShape fold away on the torch ViT export; outputs are unchanged', async () => {
  const m = loadModel(MODELS.vitTiny);
  const before = new Set(m.graph.nodes.map((n) => n.op));
  for (const op of ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Constant', 'ConstantOfShape'])
    assert.ok(before.has(op), `fixture has ${op}`);
  const { model, shapes } = await foldConstants(m, { pixel_values: [2, 3, 224, 224] });
  const ops = model.graph.nodes.map((n) => n.op);
  for (const op of ['Shape', 'Unsqueeze', 'Constant', 'ConstantOfShape', 'Equal', 'Cast'])
    assert.ok(!ops.includes(op), `${op} folded`);
  assert.ok(model.graph.nodes.length < m.graph.nodes.length / 3);
  // every Reshape now reads a constant shape
  for (const n of model.graph.nodes.filter((n) => n.op === 'Reshape'))
    assert.ok(model.graph.initializers.has(n.inputs[1]));
  assert.deepEqual(shapes.get('logits')?.dims, [2, 1000]);
  const x = tensor('float32', [2, 3, 224, 224]);
  for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] = Math.cos(i * 1e-3);
  const a = await (await createSession(m)).run({ pixel_values: x });
  const b = await (await createSession(model)).run({ pixel_values: x });
  let d = 0;
  for (let i = 0; i < a.logits.data.length; i++)
    d = Math.max(d, Math.abs((a.logits.data as Float32Array)[i] - (b.logits.data as Float32Array)[i]));
  assert.ok(d < 1e-3, `max diff ${d}`);
});

test('parameters are never folded into constants', async () => {
  const m = loadModel(MODELS.tinyVit);
  const { model } = await foldConstants(m, { pixel_values: [1, 3, 32, 32] });
  for (const [k, t] of m.graph.initializers)
    if (t.dtype === 'float32' && t.dims.length > 0) assert.ok(model.graph.initializers.has(k), `${k} kept`);
});

test('an op onnxruntime cannot run names the op and the node, and says what to do', async () => {
  const m = loadModel(MODELS.tinyCnn);
  const relu = m.graph.nodes.find((n) => n.op === 'Relu')!;
  relu.op = 'FancyActivation';
  relu.domain = 'com.example';
  m.extraOpsets.push({ domain: 'com.example', version: 1 });
  await assert.rejects(foldConstants(m, { pixel_values: [1, 3, 32, 32] }), (e: unknown) => {
    assert.ok(isAttuneError(e));
    assert.match(e.message, /FancyActivation/);
    assert.match(e.message, new RegExp(relu.name.replace(/[/\\]/g, '.')));
    assert.match(e.hint, /linear probe|standard/i);
    return true;
  });
});

test('folding at batch B via probes at batch 1 and 2 gives exactly the direct probe at batch B', async () => {
  const m = loadModel(MODELS.vitTiny);
  const viaExtrapolation = await foldConstants(m, { pixel_values: [5, 3, 224, 224] });
  // a model whose batch is fixed in its input declaration can only be probed directly
  const fixed = loadModel(MODELS.vitTiny);
  fixed.graph.inputs[0].shape = [5, 3, 224, 224];
  const direct = await foldConstants(fixed, { pixel_values: [5, 3, 224, 224] });
  assert.deepEqual(
    [...viaExtrapolation.model.graph.initializers.keys()].sort(),
    [...direct.model.graph.initializers.keys()].sort(),
  );
  for (const [k, t] of direct.model.graph.initializers) {
    const u = viaExtrapolation.model.graph.initializers.get(k)!;
    assert.deepEqual(u.dims, t.dims, k);
    assert.deepEqual(u.data, t.data, k);
  }
  for (const [k, s] of direct.shapes) assert.deepEqual(viaExtrapolation.shapes.get(k)?.dims, s.dims, k);
});

test('a probe run in many small segments returns exactly what one run returns, holding only the values later segments read', async () => {
  const m = loadModel(MODELS.vitTiny);
  const feeds = {
    pixel_values: tensor(
      'float32',
      [4, 3, 224, 224],
      Float32Array.from({ length: 4 * 3 * 224 * 224 }, (_, i) => Math.sin(i)),
    ),
  };
  const small = (_: string, dims: readonly number[]) => dims.reduce((a, b) => a * b, 1) <= 4096;
  const whole = await probe(m.graph, m.opset, feeds, small, undefined, Number.POSITIVE_INFINITY);
  const pieces = await probe(m.graph, m.opset, feeds, small, undefined, 1 << 20);
  assert.ok(whole.stats.segments <= 6, `${whole.stats.segments} segments`); // 64 nodes, then twice as many each time
  assert.ok(pieces.stats.segments > 20, `${pieces.stats.segments} segments`);
  assert.deepEqual([...pieces.shapes.keys()].sort(), [...whole.shapes.keys()].sort());
  for (const [k, s] of whole.shapes) assert.deepEqual(pieces.shapes.get(k), s, k);
  assert.ok(whole.values.size > 100);
  for (const [k, t] of whole.values) assert.deepEqual(pieces.values.get(k)?.data, t.data, k);
  // between segments only the residual stream and the like stay alive: a small fraction of all intermediates
  assert.equal(pieces.stats.totalBytes, whole.stats.totalBytes);
  assert.ok(
    pieces.stats.maxHeldBytes < whole.stats.totalBytes / 50,
    `${pieces.stats.maxHeldBytes} held of ${whole.stats.totalBytes}`,
  );
});
