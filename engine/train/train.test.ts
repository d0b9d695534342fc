/**
 * End-to-end training on real data: ViT-Tiny on a small balanced sample of aid-satellite-subset,
 * linear probe and full fine-tuning, held-out accuracy well above chance; export → fresh session → predict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainRun } from './trainer';
import { exportRun } from '../export/export';
import { predictFiles } from '../predict/predict';
import { decodeModel } from '../onnx/io';
import { loadModel } from '../onnx/io';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';
import type { EngineEvent } from '../events';

const CLASSES = ['Beach', 'Desert', 'Farmland', 'Forest', 'Industrial', 'Parking'];
const data = sampleDataset(DATASETS.aid, CLASSES, 20);
const chance = 1 / CLASSES.length;

test('linear probe on ViT-Tiny: well above chance on held-out images; export reproduces the engine and predicts', async () => {
  const out = tempDir();
  const events: EngineEvent[] = [];
  const r = await trainRun(
    { data, model: MODELS.vitTiny, method: 'linear', epochs: 15, batch: 16, seed: 3, outDir: join(out, 'run') },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(r.status, 'done');
  assert.ok(r.test && r.test.count >= CLASSES.length, 'a test split exists');
  assert.ok(r.test!.accuracy >= 0.6, `test accuracy ${r.test!.accuracy} vs chance ${chance.toFixed(2)}`);
  assert.ok(events.some((e) => e.type === 'provider' && e.provider === 'cpu'));
  // the head trains on cached features: the step's memory is not the run's, so no estimate is given
  assert.ok(events.every((e) => e.type !== 'memory'));
  assert.equal(events.filter((e) => e.type === 'epoch').length, 15);
  // the fast path's steps train the head on cached features, and say so (their images/s is not the backbone's)
  const steps = events.filter((e) => e.type === 'step');
  assert.ok(steps.length > 0 && steps.every((e) => e.type === 'step' && e.cachedFeatures === true));

  const exp = await exportRun(r.runDir, join(out, 'export'));
  assert.ok(exp.maxAbsDiff < 1e-4, `export matches engine (${exp.maxAbsDiff})`);
  assert.deepEqual(readFileSync(exp.labelsPath, 'utf8').trim().split('\n'), CLASSES);
  const m = decodeModel(readFileSync(exp.modelPath));
  assert.deepEqual(JSON.parse(m.metadata['attune.labels']), CLASSES);
  assert.equal(JSON.parse(m.metadata['attune.preprocessing']).size, 224);
  assert.equal(m.metadata['attune.method'], 'linear');
  assert.ok(JSON.parse(m.metadata['attune.metrics']).accuracy >= 0.6);
  assert.equal(m.graph.outputs[0].name, 'probabilities');
  assert.equal(m.graph.inputs[0].shape[0], 'batch', 'dynamic batch kept');
  // the export keeps the backbone's initializer names and shapes
  const original = loadModel(MODELS.vitTiny).graph.initializers;
  for (const [k, t] of m.graph.initializers) if (original.has(k)) assert.deepEqual(t.dims, original.get(k)!.dims, k);
  assert.ok(existsSync(exp.cardPath));

  const evaluation = JSON.parse(readFileSync(join(r.runDir, 'evaluation.json'), 'utf8'));
  const testFiles: string[] = [...evaluation.test.misclassified.map((x: { file: string }) => x.file)];
  const split = JSON.parse(readFileSync(join(r.runDir, 'split.json'), 'utf8')) as {
    items: { file: string; label: string; split: string }[];
  };
  const held = split.items.filter((i) => i.split === 'test');
  const preds = await predictFiles(
    exp.modelPath,
    held.map((i) => join(data, i.file)),
  );
  const correct = preds.filter((p, i) => p.label === held[i].label).length;
  assert.equal(
    correct / held.length,
    r.test!.accuracy,
    'predict on the exported file agrees with the engine evaluation',
  );
  for (const p of preds)
    assert.ok(Math.abs(p.top.reduce((a, t) => a + t.probability, 0) - 1) < 1e-3 || p.top.length < CLASSES.length);
  assert.ok(testFiles.length <= held.length);
});

test('full fine-tuning of ViT-Tiny learns the sample well above chance', async () => {
  const out = tempDir();
  const events: EngineEvent[] = [];
  const r = await trainRun(
    {
      data,
      model: MODELS.vitTiny,
      method: 'full',
      epochs: 2,
      batch: 16,
      lr: 1e-4,
      seed: 3,
      outDir: join(out, 'run'),
      augment: 'aerial',
    },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(r.status, 'done');
  assert.ok(
    events.some((e) => e.type === 'step') && events.every((e) => e.type !== 'step' || e.cachedFeatures === undefined),
  );
  // the memory estimate comes once, before the first step, for this batch (its accuracy: npm run bench:memory)
  const memory = events.filter((e) => e.type === 'memory');
  assert.equal(memory.length, 1);
  assert.ok(events.indexOf(memory[0]) < events.findIndex((e) => e.type === 'step'));
  assert.equal(memory[0].batch, 16);
  assert.ok(memory[0].estimatedBytes > 0.3 * 2 ** 30 && memory[0].estimatedBytes < 4 * 2 ** 30, 'ViT-Tiny at 16');
  assert.ok(memory[0].availableBytes > 0);
  assert.ok(r.test!.accuracy >= 0.5, `test accuracy ${r.test!.accuracy} vs chance ${chance.toFixed(2)}`);
});
