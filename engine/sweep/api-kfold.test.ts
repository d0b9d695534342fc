/** The app's "Estimate with k-fold cross-validation": a finished run's recipe over k folds, trials in-process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kfoldEvaluate, trainRun } from '../api';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';
import { PROPORTION, summarizeValues } from './stats';

test('kfoldEvaluate tests every image once over k folds; figures are the trials’ own, interval the sweep’s', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 6);
  const out = tempDir();
  const run = await trainRun({
    dataPath: data,
    modelPath: MODELS.tinyVit,
    method: 'linear',
    epochs: 1,
    batchSize: 8,
    learningRate: 1e-2,
    balance: 'weights',
    selectBy: 'macro-f1',
    warmupEpochs: 0.5,
    labelSmoothing: 0.05,
    clipNorm: null,
    seed: 0,
    outDir: join(out, 'run'),
    provider: 'auto',
    split: { valFraction: 0.2, testFraction: 0.2, seed: 0 },
  });
  assert.equal(run.status, 'done');
  const events: string[] = [];
  const r = await kfoldEvaluate(
    { runDir: join(out, 'run'), folds: 3, outDir: join(out, 'kfold') },
    { onEvent: (e) => events.push(e.type) },
  );
  assert.ok(events.includes('progress'));
  assert.equal(r.folds, 3);
  assert.deepEqual(r.missing, []);
  assert.deepEqual(
    r.perFold.map((f) => f.fold),
    [0, 1, 2],
  );
  // every image tested exactly once across the folds
  const tested = r.perFold.flatMap((f) => {
    const split = JSON.parse(readFileSync(join(r.dir, 'splits', `fold-${f.fold}.json`), 'utf8')) as {
      items: { file: string; split: string }[];
    };
    return split.items.filter((x) => x.split === 'test').map((x) => x.file);
  });
  assert.equal(tested.length, 18);
  assert.equal(new Set(tested).size, 18);
  assert.equal(
    r.perFold.reduce((a, f) => a + f.testImages, 0),
    18,
  );
  // the numbers are each trial's own evaluation.json
  for (const f of r.perFold) {
    const ev = JSON.parse(readFileSync(join(r.dir, 'trials', f.trial, 'evaluation.json'), 'utf8')) as {
      test: { accuracy: number; balancedAccuracy: number; count: number };
    };
    assert.equal(f.accuracy, ev.test.accuracy);
    assert.equal(f.balancedAccuracy, ev.test.balancedAccuracy);
    assert.equal(f.testImages, ev.test.count);
  }
  // the run's recipe was reused
  const trialSpec = JSON.parse(readFileSync(join(r.dir, 'trials', r.perFold[0].trial, 'run.json'), 'utf8')) as {
    method: string;
    hyper: { lr: number; batch: number; warmupEpochs: number; labelSmoothing: number; clipNorm: number | null };
    balance: string;
    selectBy: string;
    preprocessing: { values: unknown };
  };
  assert.equal(trialSpec.method, 'linear');
  assert.deepEqual([trialSpec.balance, trialSpec.selectBy], ['weights', 'macro-f1']);
  const runSpec = JSON.parse(readFileSync(join(out, 'run', 'run.json'), 'utf8')) as {
    preprocessing: { values: unknown };
  };
  assert.deepEqual(trialSpec.preprocessing.values, runSpec.preprocessing.values);
  assert.equal(trialSpec.hyper.lr, 1e-2);
  assert.equal(trialSpec.hyper.batch, 8);
  assert.deepEqual(
    [trialSpec.hyper.warmupEpochs, trialSpec.hyper.labelSmoothing, trialSpec.hyper.clipNorm],
    [0.5, 0.05, null],
    'warm-up, label smoothing and clipping as the run had them',
  );
  // mean, sd and interval from the sweep's statistics (and its results.json)
  assert.deepEqual(
    r.accuracy,
    summarizeValues(
      r.perFold.map((f) => f.accuracy),
      PROPORTION,
    ),
  );
  assert.deepEqual(
    r.balancedAccuracy,
    summarizeValues(
      r.perFold.map((f) => f.balancedAccuracy),
      PROPORTION,
    ),
  );
  assert.ok(r.accuracy.ci95![0] >= 0 && r.accuracy.ci95![1] <= 1, 'an accuracy interval stays within 0–100 %');
  assert.ok(r.accuracy.ci95);
  const results = JSON.parse(readFileSync(join(r.dir, 'results.json'), 'utf8')) as {
    configs: { testAccuracy: unknown }[];
  };
  assert.deepEqual(results.configs[0].testAccuracy, r.accuracy);
  // re-running continues (every fold done already: same figures, no new training)
  const again = await kfoldEvaluate({ runDir: join(out, 'run'), folds: 3, outDir: join(out, 'kfold') });
  assert.deepEqual(again.perFold, r.perFold);
  // bad input: one fold
  await assert.rejects(kfoldEvaluate({ runDir: join(out, 'run'), folds: 1, outDir: join(out, 'k1') }), /2 or more/);
});

test('k-fold of a run with the user’s corrections leaves out and relabels the same images in every fold', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 5);
  const out = tempDir();
  const [gone, moved] = ['Beach/beach_107.jpg', 'Forest/forest_1.jpg'];
  const overrides = { exclude: [gone], relabel: { [moved]: 'Parking' } };
  const run = await trainRun({
    dataPath: data,
    modelPath: MODELS.tinyVit,
    method: 'linear',
    epochs: 1,
    batchSize: 8,
    outDir: join(out, 'run'),
    overrides,
  });
  assert.equal(run.status, 'done');
  const r = await kfoldEvaluate({ runDir: join(out, 'run'), folds: 2, outDir: join(out, 'kfold') });
  assert.deepEqual(r.missing, []);
  for (const f of [0, 1]) {
    const split = JSON.parse(readFileSync(join(r.dir, 'splits', `fold-${f}.json`), 'utf8')) as {
      items: { file: string; label: string }[];
    };
    assert.equal(split.items.length, 14);
    assert.ok(!split.items.some((i) => i.file === gone), 'the excluded image is in no fold');
    assert.equal(split.items.find((i) => i.file === moved)!.label, 'Parking', 'the relabelled image keeps its class');
  }
  assert.equal(
    r.perFold.reduce((a, f) => a + f.testImages, 0),
    14,
    'every remaining image tested once',
  );
});
