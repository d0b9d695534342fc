/**
 * Imbalance and the honest evaluation end to end on real ultrasound images (BUSI, imbalanced sample 45/18/12):
 * class weights and class-balanced sampling, checkpoint selection by balanced accuracy, intervals and
 * temperature scaling in evaluation.json, and an export with the operating point, the calibrated graph,
 * model-image.onnx and the model card. Real ViT-Tiny, linear probe, few epochs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { balancedOrder, classCounts, classWeights } from './balance';
import { trainRun } from './trainer';
import { exportRun } from '../export/export';
import { temperedSoftmax } from '../evaluate/calibration';
import { decodeModel } from '../onnx/io';
import { DATASETS, MODELS, tempDir } from '../testing/fixtures';
import type { EngineEvent } from '../events';
import { defaultLoader, type BatchLoaderFactory } from '../data/loader';

function imbalancedBusi(counts: Record<string, number>): string {
  const dst = tempDir('attune-busi-');
  for (const [c, n] of Object.entries(counts)) {
    mkdirSync(join(dst, c));
    const files = readdirSync(join(DATASETS.busi, c))
      .filter((f) => !f.includes('mask'))
      .sort()
      .slice(0, n);
    for (const f of files) cpSync(join(DATASETS.busi, c, f), join(dst, c, f));
  }
  return dst;
}

test('class weights are n / (C · n_c); balanced sampling draws every class about equally, deterministically', () => {
  const labels = [...Array(437).fill(0), ...Array(210).fill(1), ...Array(133).fill(2)];
  const w = classWeights(labels, 3);
  const counts = classCounts(labels, 3);
  // each class carries the same total weight
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(w[c] * counts[c] - labels.length / 3) < 1e-9);
  const order = balancedOrder(labels, 3, 1, 0);
  assert.equal(order.length, labels.length);
  const drawn = classCounts(
    order.map((i) => labels[i]),
    3,
  );
  for (const d of drawn) assert.ok(Math.abs(d - labels.length / 3) < 60, `drawn ${drawn}`);
  assert.deepEqual(balancedOrder(labels, 3, 1, 0), order);
  assert.notDeepEqual(balancedOrder(labels, 3, 1, 1), order);
});

const data = imbalancedBusi({ benign: 45, malignant: 18, normal: 12 });

/** Mean uncalibrated probability of the given classes over a run's val and test images. */
function meanProbability(runDir: string, classes: number[]): number {
  const saved = JSON.parse(readFileSync(join(runDir, 'predictions.json'), 'utf8'));
  const logits: number[] = [...saved.val.logits, ...saved.test.logits];
  const p = temperedSoftmax(logits, 3, 1);
  let sum = 0;
  for (let i = 0; i < p.length / 3; i++) for (const c of classes) sum += p[i * 3 + c];
  return sum / (p.length / 3);
}

test('BUSI with --balance weights: balanced-accuracy selection, intervals, calibration, operating point, model-image.onnx, card', async () => {
  const out = tempDir();
  const events: EngineEvent[] = [];
  const r = await trainRun(
    {
      data,
      model: MODELS.vitTiny,
      method: 'linear',
      epochs: 6,
      batch: 16,
      lr: 0.01,
      seed: 2,
      balance: 'weights',
      ratios: [0.5, 0.25, 0.25],
      outDir: join(out, 'run'),
    },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(r.status, 'done');
  assert.equal(r.selectedBy, 'balanced-accuracy');
  assert.ok(events.some((e) => e.type === 'log' && /Class-weighted loss/.test(e.message)));
  const epochs = events.filter((e): e is Extract<EngineEvent, { type: 'epoch' }> => e.type === 'epoch');
  // the chosen epoch is the one with the best validation balanced accuracy (first one on ties)
  const bestBal = Math.max(...epochs.map((e) => e.valBalancedAccuracy!));
  assert.equal(
    r.bestEpoch,
    epochs.findIndex((e) => e.valBalancedAccuracy === bestBal),
  );

  const ev = JSON.parse(readFileSync(join(r.runDir, 'evaluation.json'), 'utf8'));
  assert.equal(ev.selectedBy, 'balanced-accuracy');
  const t = ev.test;
  assert.equal(t.estimates.accuracy.n, t.count);
  assert.ok(
    t.estimates.balancedAccuracy.lower <= t.balancedAccuracy &&
      t.balancedAccuracy <= t.estimates.balancedAccuracy.upper,
  );
  assert.ok(t.rough, 'a few test images per class are rough figures');
  assert.ok(t.perClass.every((c: { auc: { value: number } | null }) => c.auc && c.auc.value >= 0 && c.auc.value <= 1));
  assert.ok(ev.calibration.temperature > 0 && ev.calibration.nllAfter <= ev.calibration.nllBefore);
  assert.equal(typeof ev.calibration.test.eceAfter, 'number');
  console.log(
    `BUSI sample, linear probe, weights: test bal. acc ${(t.balancedAccuracy * 100).toFixed(1)} % [${(t.estimates.balancedAccuracy.lower * 100).toFixed(1)}, ${(t.estimates.balancedAccuracy.upper * 100).toFixed(1)}], T = ${ev.calibration.temperature.toFixed(3)}, test ECE ${ev.calibration.test.eceBefore.toFixed(3)} → ${ev.calibration.test.eceAfter.toFixed(3)}`,
  );

  const exp = await exportRun(r.runDir, join(out, 'export'), {
    operatingPoint: { positiveClass: 'malignant', metric: 'sensitivity', atLeast: 0.9 },
    referBelow: 0.6,
  });
  assert.ok(
    exp.maxAbsDiff < 1e-4,
    `calibrated export matches the engine with the same temperature (${exp.maxAbsDiff})`,
  );
  assert.equal(exp.temperature, ev.calibration.temperature);
  const m = decodeModel(readFileSync(exp.modelPath));
  assert.ok(
    m.graph.nodes.some((n) => n.op === 'Div' && n.inputs.includes('attune_temperature')) || exp.temperature === 1,
  );
  const op = JSON.parse(m.metadata['attune.operating_point']);
  assert.equal(op.positiveClass, 'malignant');
  assert.ok(op.fitted.sensitivity.value >= 0.9, 'target met on val, where it was fitted');
  assert.equal(op.fitted.split, 'val');
  assert.equal(op.reported.split, 'test');
  assert.equal(op.reported.sensitivity.n, t.perClass[1].support);
  assert.equal(JSON.parse(m.metadata['attune.calibration']).temperature, exp.temperature);
  assert.equal(m.metadata['attune.refer_below'], '0.6');

  assert.ok(exp.imageModelPath && existsSync(exp.imageModelPath));
  const check = exp.imageModelCheck!;
  console.log(
    `model-image.onnx vs engine on ${check.images} BUSI images: top-1 ${(check.top1Agreement * 100).toFixed(0)} %, max prob diff ${check.maxProbabilityDiff.toExponential(2)}`,
  );
  assert.ok(check.images >= 8);
  assert.ok(check.top1Agreement >= 7 / 8 && check.maxProbabilityDiff < 0.1, JSON.stringify(check));
  const report = JSON.parse(readFileSync(join(out, 'export', 'export-report.json'), 'utf8'));
  assert.deepEqual(report.imageModelCheck, check);

  const card = readFileSync(exp.cardPath, 'utf8');
  for (const s of [
    '95 % CI',
    '## Calibration',
    'T = ',
    '## Operating point',
    'malignant',
    '## How it fails',
    'model-image.onnx',
    'Rough figures',
    'Balanced accuracy',
  ])
    assert.ok(card.includes(s), `card mentions ${s}`);
});

test('class weights shift probability towards the small classes (same data, seed and schedule, balance none vs weights)', async () => {
  // one epoch each, so both runs keep the same (only) checkpoint: what differs is the loss weighting alone, not which
  // epoch the balanced-accuracy selection picked (the unclipped linear probe at lr 0.01 peaks at different epochs)
  const run = (balance: 'none' | 'weights') =>
    trainRun({
      data,
      model: MODELS.vitTiny,
      method: 'linear',
      epochs: 1,
      batch: 16,
      lr: 0.01,
      seed: 2,
      balance,
      ratios: [0.5, 0.25, 0.25],
      outDir: join(tempDir(), 'run'),
    });
  const [weighted, plain] = [await run('weights'), await run('none')];
  assert.equal(weighted.bestEpoch, plain.bestEpoch);
  // malignant (1) and normal (2) are the small classes of the 45/18/12 sample
  const withWeights = meanProbability(weighted.runDir, [1, 2]);
  const without = meanProbability(plain.runDir, [1, 2]);
  console.log(`mean p(malignant or normal) on val+test: weights ${withWeights.toFixed(3)}, none ${without.toFixed(3)}`);
  assert.ok(withWeights > without);
});

test('BUSI with --balance sampling: the trainer’s epochs draw every class about equally (tiny CNN, full fine-tuning)', async () => {
  const out = tempDir();
  const events: EngineEvent[] = [];
  const drawn: number[][] = [];
  const loader: BatchLoaderFactory = (o) => {
    if (o.augment !== 'none' && !o.views)
      drawn.push(
        classCounts(
          o.items.map((i) => i.label),
          3,
        ),
      );
    return defaultLoader(o);
  };
  const r = await trainRun(
    {
      data,
      model: MODELS.tinyCnn,
      method: 'full',
      epochs: 2,
      batch: 16,
      lr: 1e-3,
      seed: 2,
      balance: 'sampling',
      selectBy: 'macro-f1',
      outDir: join(out, 'run'),
    },
    { onEvent: (e) => events.push(e), loader },
  );
  assert.equal(r.status, 'done');
  assert.equal(r.selectedBy, 'macro-f1');
  assert.ok(events.some((e) => e.type === 'log' && /Class-balanced sampling/.test(e.message)));
  assert.equal(drawn.length, 2, 'one training loader per epoch');
  const trainCount = drawn[0].reduce((a, b) => a + b, 0);
  // the split's training part is 45/18/12 × 0.8; balanced epochs hold each class about a third of the time
  for (const d of drawn) for (const c of d) assert.ok(Math.abs(c - trainCount / 3) < trainCount / 6, `drawn ${d}`);
  const spec = JSON.parse(readFileSync(join(r.runDir, 'run.json'), 'utf8'));
  assert.equal(spec.balance, 'sampling');
});
