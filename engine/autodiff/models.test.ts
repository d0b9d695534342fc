/**
 * Whole-graph gradient checks on the shared test fixtures (exported by torch.onnx.export), and
 * the guarantee that frozen weights get no gradient computation at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { foldConstants, parameterNames } from '../ir/fold';
import { loadModel } from '../onnx/io';
import { differentiate } from './differentiate';
import { gradcheckModel } from './testing/model-check';

const fixture = (name: string) => loadModel(path.resolve('../shared/models', name));

for (const name of ['tiny-vit-random.onnx', 'tiny-cnn-random.onnx']) {
  test(`${name}: gradients of every parameter and of the input match central differences`, async () => {
    const rep = await gradcheckModel(fixture(name), [2, 3, 32, 32], { samples: 4, seed: 11 });
    assert.ok(rep.wrt.length > 10, `only ${rep.wrt.length} tensors checked`);
    assert.equal(rep.checked, 4 * rep.wrt.length);
    assert.deepEqual(rep.failures, []);
  });

  test(`${name}: training only the last Gemm emits no gradient work for frozen weights`, async () => {
    const { model, shapes } = await foldConstants(fixture(name), { pixel_values: [2, 3, 32, 32] });
    const g = model.graph;
    const head = g.nodes.filter((n) => n.op === 'Gemm').at(-1)!;
    const trainable = head.inputs.slice(1).filter((i) => i);
    const frozen = new Set([...parameterNames(g)].filter((p) => !trainable.includes(p)));
    assert.ok(frozen.size > 5);
    const logits = g.outputs[0].name;
    const forwardCount = g.nodes.length;
    // a scalar loss: Σ logits
    g.nodes.push({ name: 'loss', op: 'ReduceSum', domain: '', inputs: [logits], outputs: ['loss'], attrs: { keepdims: { kind: 'int', value: 0 } } });
    shapes.set('loss', { dtype: 'float32', dims: [] });
    differentiate(g, shapes, 'loss', trainable);
    const backward = g.nodes.slice(forwardCount + 1);
    assert.ok(backward.length <= 6, `backward has ${backward.length} nodes: ${backward.map((n) => n.op).join(', ')}`);
    for (const n of backward) {
      assert.ok(!['Conv', 'ConvTranspose', 'MatMul', 'LayerNormalization'].includes(n.op), `backward contains ${n.op}`);
      const reads = n.inputs.filter((i) => frozen.has(i));
      assert.deepEqual(reads, [], `${n.op} "${n.name}" reads frozen weights`);
    }
  });
}
