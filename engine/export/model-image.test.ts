/**
 * model-image.onnx against the engine's own pipeline on real photos of many sizes: the real ViT-Tiny with its
 * ImageNet head (1000 classes, so top-1 agreement is a sharp test), in-graph resize/crop/normalise vs Attune's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../onnx/io';
import { loadBackbone } from '../backbone/load';
import { MODELS, PROBE_DIR } from '../testing/fixtures';
import { checkImageModel, modelImageUnsupported, withImagePreprocessing, IMAGE_INPUT } from './model-image';

test('model-image.onnx (uint8 HWC of any size → in-graph resize, crop, normalise) agrees with the engine pipeline', async () => {
  const files = readdirSync(PROBE_DIR)
    .filter((f) => f.endsWith('.JPEG'))
    .map((f) => join(PROBE_DIR, f));
  const bb = await loadBackbone(MODELS.vitTiny);
  const classifier = loadModel(MODELS.vitTiny);
  const imageModel = withImagePreprocessing(classifier, bb.preprocessing);
  assert.equal(imageModel.graph.inputs[0].name, IMAGE_INPUT);
  assert.equal(imageModel.graph.inputs[0].dtype, 'uint8');
  assert.ok(imageModel.opset >= 18);
  const r = await checkImageModel(imageModel, classifier, files, bb.preprocessing, { logits: true });
  console.log(
    `model-image vs engine on ${r.images} ImageNet probe photos: top-1 agreement ${(r.top1Agreement * 100).toFixed(1)} %, max prob diff ${r.maxProbabilityDiff.toExponential(2)}`,
  );
  assert.equal(r.images, 17);
  // a different top class only where the engine itself was torn between two (probabilities within 2 %)
  assert.ok(r.top1Agreement >= 16 / 17, `agreement ${r.top1Agreement}`);
  for (const d of r.disagreements) assert.ok(d.engineMargin < 0.02, `${d.file}: engine margin ${d.engineMargin}`);
  assert.ok(r.maxProbabilityDiff < 0.05, `max probability difference ${r.maxProbabilityDiff}`);
});

test('model-image.onnx with "squash" preprocessing (resize to S × S, no crop) agrees too; "pad" and multispectral input are refused with why', async () => {
  const files = readdirSync(PROBE_DIR)
    .filter((f) => f.endsWith('.JPEG'))
    .slice(0, 5)
    .map((f) => join(PROBE_DIR, f));
  const bb = await loadBackbone(MODELS.vitTiny);
  const classifier = loadModel(MODELS.vitTiny);
  const squash = { ...bb.preprocessing, resize: 'squash' as const };
  const r = await checkImageModel(withImagePreprocessing(classifier, squash), classifier, files, squash, {
    logits: true,
  });
  assert.ok(r.top1Agreement >= 4 / 5 && r.maxProbabilityDiff < 0.05, JSON.stringify(r));
  for (const d of r.disagreements) assert.ok(d.engineMargin < 0.02, `${d.file}: engine margin ${d.engineMargin}`);
  assert.match(modelImageUnsupported(classifier, { ...bb.preprocessing, resize: 'pad' })!, /pads the image/);
  const allBands = { ...bb.preprocessing.values, bands: { selection: { mode: 'all' as const }, bandCount: 13 } };
  assert.match(
    modelImageUnsupported(classifier, { ...bb.preprocessing, values: allBands })!,
    /13 multispectral channels/,
  );
});
