import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import {
  evaluateRun,
  explainImages,
  exportRun,
  inspectBackbone,
  listMethods,
  operatingPointForRun,
  predictWithModel,
  scanDataset,
  trainRun,
} from './api';
import { DATASETS, MODELS, sampleDataset, tempDir } from './testing/fixtures';
import { getMethod } from './methods/registry';

test('scan report for the app: classes with example files, layout, image summary, BUSI duplicate flagged', async () => {
  const progress: number[] = [];
  const r = await scanDataset(
    DATASETS.busi,
    { cacheDir: tempDir() },
    (e) => e.type === 'progress' && e.phase === 'scan' && progress.push(e.done),
  );
  assert.ok(progress.length > 1 && progress.at(-1) === 780, 'scan progress is streamed');
  assert.equal(r.total, 780);
  assert.deepEqual(
    r.classes.map((c) => [c.name, c.count]),
    [
      ['benign', 437],
      ['malignant', 210],
      ['normal', 133],
    ],
  );
  assert.ok(r.classes.every((c) => c.examples!.length > 0));
  assert.equal(r.layout, 'class-folders');
  assert.match(r.imageSummary!, /PNG/);
  assert.ok(r.problems.some((p) => p.kind === 'duplicate'));
  // 437:133 ≥ 3:1, so the app proposes class balancing
  assert.equal(r.imbalance.proposedBalance, 'weights');
  assert.ok(Math.abs(r.imbalance.ratio - 437 / 133) < 1e-9 && /balanced accuracy/.test(r.imbalance.message!));
  assert.equal(r.groupIds, null, 'a class-folder dataset has no patient ids');
});

test('scan report lists patient/group ids from a labels CSV, with their image counts', async () => {
  const dir = tempDir();
  const files = ['benign (1).png', 'benign (2).png', 'benign (3).png', 'benign (4).png'];
  for (const f of files) copyFileSync(join(DATASETS.busi, 'benign', f), join(dir, f));
  copyFileSync(join(DATASETS.busi, 'malignant', 'malignant (1).png'), join(dir, 'm1.png'));
  copyFileSync(join(DATASETS.busi, 'malignant', 'malignant (2).png'), join(dir, 'm2.png'));
  const rows = [
    ...files.map((f, i) => `${f},benign,P${i < 3 ? 1 : 2}`),
    'm1.png,malignant,P10',
    'm2.png,malignant,P10',
  ];
  writeFileSync(join(dir, 'lesions.csv'), ['path,label,lesion_id', ...rows].join('\n'));
  const r = await scanDataset(dir, { csvPath: join(dir, 'lesions.csv'), cacheDir: tempDir() });
  assert.deepEqual(r.groupIds, {
    count: 3,
    ids: [
      { id: 'P1', images: 3 },
      { id: 'P2', images: 1 },
      { id: 'P10', images: 2 },
    ],
  });
  // a patient column is shown only as salted pseudonyms (the real ids never reach a report or its cache)
  writeFileSync(join(dir, 'patients.csv'), ['path,label,patient_id', ...rows].join('\n'));
  const p = await scanDataset(dir, { csvPath: join(dir, 'patients.csv'), cacheDir: tempDir() });
  assert.equal(p.groupIds!.count, 3);
  assert.deepEqual(p.groupIds!.ids.map((g) => g.images).sort(), [1, 2, 3]);
  assert.ok(
    p.groupIds!.ids.every((g) => /^pt-[0-9a-f]{16}$/.test(g.id)),
    JSON.stringify(p.groupIds),
  );
});

test('backbone check for all four shared models; a broken file is reported, not thrown', async () => {
  for (const m of Object.values(MODELS)) {
    const info = await inspectBackbone(m);
    assert.ok(info.ok, info.notes.join(' '));
    assert.deepEqual(info.unsupportedOps, []);
    assert.ok(info.featureDim! > 0 && info.parameterCount > 0 && info.inputSize! > 0);
    assert.equal(info.pretrained, !m.includes('random'), `${m}: pretrained is told from the weights`);
  }
  const bad = await inspectBackbone(join(tempDir(), 'missing.onnx'));
  assert.equal(bad.ok, false);
  assert.match(bad.notes[0], /No model file/);
});

test('method listing recommends by dataset size and estimates time', async () => {
  const l = await listMethods({ modelPath: MODELS.vitTiny, trainCount: 300 });
  assert.equal(l.device, 'CPU');
  assert.ok(l.methods.length >= 8);
  assert.equal(l.methods.filter((m) => m.recommended).length, 1);
  assert.ok(l.recommendation?.why);
  assert.ok(l.methods.find((m) => m.name === 'full')!.secondsPerEpoch! > 0);
  // the linear probe computes features once, then trains on the cache: its time is one pass, not one per epoch
  const linear = l.methods.find((m) => m.name === 'linear')!;
  assert.equal(linear.secondsPerEpoch, 0);
  assert.ok(linear.setupSeconds! > 0);
  // one feature pass is one forward pass; full fine-tuning costs 3 forward-pass equivalents per image (relativeCost)
  const full = l.methods.find((m) => m.name === 'full')!.secondsPerEpoch!;
  assert.ok(Math.abs(linear.setupSeconds! * 3 - full) <= 1e-9 * full, `${linear.setupSeconds} × 3 vs ${full}`);
  assert.equal(l.methods.find((m) => m.name === 'gps')!.defaults.k, 1);
  assert.equal(l.methods.find((m) => m.name === 'pace')!.defaults.sigma, 1.5);
  // the recommended card carries the recommendation's preset; PACE's batch fits a CPU machine (two passes per batch)
  const rec = l.methods.find((m) => m.recommended)!;
  assert.equal(rec.name, 'spd');
  assert.equal(l.recommendation?.alternative?.name, 'linear');
  assert.equal(rec.defaults.batchSize, 32);
  assert.equal(l.methods.find((m) => m.name === 'pace')!.defaults.batchSize, getMethod('pace').cpuBatch);
  const large = await listMethods({ modelPath: MODELS.vitTiny, trainCount: 20000 });
  assert.equal(large.methods.find((m) => m.name === 'pace')!.defaults.batchSize, getMethod('pace').cpuBatch);
  assert.equal(
    large.methods.find((m) => m.name === 'pace')!.defaults.epochs,
    10,
    'METHODS.md defaults when not recommended',
  );
  assert.equal(large.methods.find((m) => m.name === 'lora')!.defaults.batchSize, 32);
  const share = Object.fromEntries(l.methods.map((m) => [m.name, m.trainableShare!]));
  assert.ok(
    share.full > 0.99 && share.linear < 0.001 && share.gps < 0.02 && share.bitfit < 0.01 && share.lora < 0.1,
    JSON.stringify(share),
  );
});

test('train → evaluate → export → predict through the façade', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 10);
  const out = tempDir();
  const r = await trainRun({
    dataPath: data,
    modelPath: MODELS.tinyCnn,
    method: 'linear',
    epochs: 2,
    batchSize: 8,
    learningRate: 1e-2,
    seed: 0,
    outDir: join(out, 'run'),
    provider: 'auto',
    split: { valFraction: 0.2, testFraction: 0.2, seed: 0 },
  });
  assert.equal(r.status, 'done');
  const ev = await evaluateRun(r.runDir);
  assert.deepEqual(ev.classes, ['Beach', 'Forest', 'Parking']);
  assert.equal(ev.confusion.length, 3);
  // the app shows misclassified images as thumbnails: their paths must be absolute
  for (const m of ev.misclassified) assert.ok(isAbsolute(m.file), m.file);
  assert.ok(ev.calibration.length > 0);
  const ex = await exportRun(r.runDir, join(out, 'export'));
  assert.ok(ex.verification!.maxAbsDiff < 1e-4);
  const p = await predictWithModel(ex.files[0], [join(data, 'Forest', 'forest_1.jpg')].filter(Boolean), {
    topK: Infinity,
  });
  assert.equal(p.length, 1);
  assert.equal(p[0].top.length, 3);
  // the figures the Evaluate screen shows beside each metric: counts, intervals, rough-figure warning, calibration
  assert.equal(ev.estimates!.accuracy.n, ev.count);
  assert.equal(ev.perClass[0].recallEstimate!.n, ev.perClass[0].support);
  assert.equal(ev.rough, true);
  assert.match(ev.roughMessage!, /Rough figures/);
  assert.ok(ev.temperature && ev.temperature.value > 0 && ev.reliabilityBefore!.length === 10);
  assert.equal(ev.selectedBy, 'balanced-accuracy');
  assert.ok(Array.isArray(p[0].caveats));
  const op = await operatingPointForRun(r.runDir, 'Forest', 'sensitivity', 0.9);
  assert.equal(op.fitted.split, 'val');
  // heatmaps for the misclassified gallery (the run's calibrated classifier) and for "Try it" (the exported file)
  const img = join(data, 'Forest', 'forest_1.jpg');
  const [fromRun] = await explainImages({ runDir: r.runDir }, [img]);
  const [fromFile] = await explainImages({ modelPath: ex.files[0] }, [img]);
  assert.equal(fromRun.heatmap.length, fromRun.gridH * fromRun.gridW);
  assert.deepEqual(fromRun.heatmap, fromFile.heatmap, 'the run and its export explain the same graph');
});
