import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from './load';
import { HEAD_BIAS, HEAD_WEIGHT, LOGITS } from './prepare';
import { MODELS } from '../testing/fixtures';
import { createSession } from '../runtime/session';
import { tensor } from '../ir/tensor';
import { isAttuneError } from '../errors';

test('the feature tensor is found automatically for all four shared models', async () => {
  const vit = await loadBackbone(MODELS.vitTiny);
  assert.equal(vit.features.how, 'head-input');
  assert.equal(vit.featureDim, 192);
  assert.equal(vit.preprocessing.mean[0], 0.5);
  const mb = await loadBackbone(MODELS.mobilenet);
  assert.equal(mb.features.source, 'features');
  assert.equal(mb.featureDim, 1280);
  assert.equal(mb.preprocessing.mean[0], 0.485);
  assert.equal((await loadBackbone(MODELS.tinyVit)).featureDim, 32);
  const cnn = await loadBackbone(MODELS.tinyCnn);
  assert.equal(cnn.features.how, 'head-input');
});

test('the ViT feature is the class-token row after the final LayerNorm (the input of the old head)', async () => {
  const vit = await loadBackbone(MODELS.tinyVit);
  const head = vit.model.graph.nodes.find((n) => n.name === vit.features.droppedHead[0])!;
  assert.equal(head.op, 'Gemm');
  assert.equal(head.inputs[0], vit.features.source);
});

test('a tensor name overrides the choice: a token sequence becomes its class token, a feature map is pooled', async () => {
  const vit = await loadBackbone(MODELS.tinyVit);
  const lnOut = vit.model.graph.nodes.filter((n) => n.op === 'LayerNormalization').at(-1)!.outputs[0];
  const o = await loadBackbone(MODELS.tinyVit, lnOut);
  assert.equal(o.features.how, 'class-token');
  assert.equal(o.featureDim, 32);
  const cnn = await loadBackbone(MODELS.tinyCnn);
  const conv = cnn.model.graph.nodes.filter((n) => n.op === 'Relu').at(-1)!.outputs[0];
  const p = await loadBackbone(MODELS.tinyCnn, conv);
  assert.equal(p.features.how, 'global-pool');
  await assert.rejects(
    loadBackbone(MODELS.tinyCnn, 'no_such_tensor'),
    (e: unknown) => isAttuneError(e) && /no tensor named/.test(e.message),
  );
});

test('the new head keeps every backbone initializer by name and shape and gives C logits', async () => {
  const vit = await loadBackbone(MODELS.tinyVit);
  const p = withNewHead(vit, 4, 0);
  for (const n of p.model.graph.nodes)
    for (const i of n.inputs) {
      const orig = vit.model.graph.initializers.get(i);
      if (orig) assert.deepEqual(p.model.graph.initializers.get(i)!.dims, orig.dims, i);
    }
  assert.deepEqual(p.model.graph.initializers.get(HEAD_WEIGHT)!.dims, [4, 32]);
  assert.deepEqual(p.model.graph.initializers.get(HEAD_BIAS)!.dims, [4]);
  assert.ok(!p.model.graph.nodes.some((n) => vit.features.droppedHead.includes(n.name)), 'old head dropped');
  const s = await createSession(p.model);
  const out = await s.run({ pixel_values: tensor('float32', [3, 3, 32, 32]) });
  assert.deepEqual(out[LOGITS].dims, [3, 4]);
});
