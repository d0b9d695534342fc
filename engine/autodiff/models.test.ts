/**
 * Whole-graph gradient checks on the shared test fixtures (exported by torch.onnx.export), and
 * the guarantee that frozen weights get no gradient computation at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { foldConstants, parameterNames } from '../ir/fold';
import { tensor } from '../ir/tensor';
import { loadModel } from '../onnx/io';
import { createSession } from '../runtime/session';
import { differentiate } from './differentiate';
import { gradcheckModel } from './testing/model-check';

const fixture = (name: string) => loadModel(path.resolve('../shared/models', name));

for (const name of ['tiny-vit-random.onnx', 'tiny-cnn-random.onnx']) {
  test(`${name}: gradients of every parameter and of the input match central differences`, async () => {
    const rep = await gradcheckModel(fixture(name), [2, 3, 32, 32], { samples: 4, seed: 11 });
    assert.ok(rep.wrt.length > 10, `only ${rep.wrt.length} tensors checked`);
    assert.equal(rep.checked, 4 * rep.wrt.length);
    assert.deepEqual(rep.failures, []);
    assert.deepEqual(rep.vanishing, [], 'gradients that are all zero check nothing');
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
    g.nodes.push({
      name: 'loss',
      op: 'ReduceSum',
      domain: '',
      inputs: [logits],
      outputs: ['loss'],
      attrs: { keepdims: { kind: 'int', value: 0 } },
    });
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

// the tiny fixtures are checked entry by entry above; these two are the real pretrained backbones
test('ViT-Tiny/16 and MobileNetV2 differentiate w.r.t. every parameter and the backward runs (float32, batch 1)', async () => {
  for (const name of ['vit-tiny-patch16-224.onnx', 'mobilenetv2-1.0-backbone.onnx']) {
    const src = fixture(name);
    const input = src.graph.inputs[0];
    const side = 224;
    const { model, shapes } = await foldConstants(src, { [input.name]: [1, 3, side, side] });
    const g = model.graph;
    const out = g.outputs[0].name;
    g.nodes.push({
      name: 'loss',
      op: 'ReduceSumSquare',
      domain: '',
      inputs: [out],
      outputs: ['loss'],
      attrs: { keepdims: { kind: 'int', value: 0 } },
    });
    shapes.set('loss', { dtype: 'float32', dims: [] });
    const params = [...parameterNames(g)];
    const grads = differentiate(g, shapes, 'loss', params, { opset: model.opset });
    g.outputs = params.map((p) => ({ name: grads.get(p)!, dtype: 'float32' as const, shape: shapes.get(p)!.dims }));
    const session = await createSession(model, { provider: 'cpu' });
    const x = tensor(
      'float32',
      [1, 3, side, side],
      Array.from({ length: 3 * side * side }, (_, i) => Math.sin(i)),
    );
    const res = await session.run({ [input.name]: x });
    await session.release();
    let nonzero = 0;
    for (const o of g.outputs) {
      const d = res[o.name].data as Float32Array;
      assert.ok(d.every(Number.isFinite), `${name}: non-finite gradient ${o.name}`);
      if (d.some((v) => v !== 0)) nonzero++;
    }
    assert.ok(nonzero > params.length / 2, `${name}: only ${nonzero}/${params.length} gradients are non-zero`);
  }
});
