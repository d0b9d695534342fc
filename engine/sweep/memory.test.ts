/** Trials side by side: their memory estimates added up before a local sweep starts them, and the advice. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { EngineEvent } from '../events';
import { DATASETS, MODELS, SHARED, sampleDataset, tempDir } from '../testing/fixtures';
import { estimateRunMemory } from '../run/memory-estimate';
import { checkParallelMemory, parallelAdvice, trialEstimates } from './memory';
import { validateSweepSpec } from './spec';
import { openSweep } from './sweep';

const GB = 2 ** 30;

test('parallel advice: the largest estimates added up, with the margin, and the most trials that fit', () => {
  const trials = [1, 4, 2, 3].map((g) => g * GB);
  const ok = parallelAdvice(trials, 2, 9 * GB);
  assert.ok(ok.enough && ok.fitsParallel === null);
  assert.equal(ok.neededBytes, 7 * GB, 'the two largest');
  // three side by side: 9 GB, 11.25 GB with the margin, more than 10 GB free; two need 8.75 GB with it
  const tight = parallelAdvice(trials, 3, 10 * GB);
  assert.equal(tight.enough, false);
  assert.equal(tight.fitsParallel, 2);
  assert.match(tight.message, /3 trials side by side may need about 9\.0 GB.*10\.0 GB is free.*--parallel 2\b/);
  const none = parallelAdvice(trials, 4, 4 * GB);
  assert.equal(none.fitsParallel, null);
  assert.match(none.message, /Even one trial at a time may not fit/);
  // more trials side by side than there are trials: the trials there are
  assert.equal(parallelAdvice(trials, 8, 100 * GB).neededBytes, 10 * GB);
});

test('a local sweep run side by side reports the sum of its largest trial estimates (the runs’ own counts)', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 4);
  const spec = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['linear', 'bitfit', { method: 'lora', options: { rank: 2 } }],
    seeds: [0, 1],
    batch: 8,
  });
  const sweep = await openSweep(spec, join(tempDir(), 'sweep'));
  const events: EngineEvent[] = [];
  await checkParallelMemory(sweep, sweep.trials, 2, (e) => events.push(e));
  const log = events.find((e) => e.type === 'log' && e.message.startsWith('Memory:'));
  assert.ok(log && log.type === 'log', 'one memory line');
  // the two largest: LoRA's two seeds, each the estimate a LoRA run of this backbone at batch 8 makes itself
  const lora = await estimateRunMemory({
    modelPath: MODELS.tinyVit,
    method: 'lora',
    options: { rank: 2 },
    batchSize: 8,
    numClasses: 3,
  });
  const perTrial = lora.notice!.estimatedBytes;
  assert.match(
    log.message,
    new RegExp(`^Memory: 2 trials side by side need about ${((2 * perTrial) / GB).toFixed(1)} GB`),
  );
  // one at a time: nothing to add up
  const alone: EngineEvent[] = [];
  await checkParallelMemory(sweep, sweep.trials, 1, (e) => alone.push(e));
  assert.deepEqual(alone, []);
});

test('a sweep on all 13 bands of Sentinel-2 GeoTIFFs counts its trials with the widened first convolution', async () => {
  const data = sampleDataset(join(SHARED, 'datasets/eurosat-ms'), ['Forest', 'SeaLake'], 4);
  const spec = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['bitfit'],
    seeds: [0, 1],
    batch: 8,
    bands: 'all',
  });
  const sweep = await openSweep(spec, join(tempDir(), 'sweep'));
  const ask = { modelPath: MODELS.tinyVit, method: 'bitfit', batchSize: 8, numClasses: 2 };
  const widened = (await estimateRunMemory({ ...ask, bands: 'all', bandCount: 13 })).notice!.estimatedBytes;
  const rgb = (await estimateRunMemory(ask)).notice!.estimatedBytes;
  assert.ok(widened > rgb, 'thirteen input channels hold more than three');
  // each trial: what its run counts itself, the band count read from the images' headers
  assert.deepEqual(await trialEstimates(sweep, sweep.trials), [widened, widened]);
  // bands given as three of them: three input channels
  const mapped = await openSweep(validateSweepSpec({ ...spec, bands: '4,3,2' }), join(tempDir(), 'sweep'));
  assert.deepEqual(await trialEstimates(mapped, mapped.trials), [rgb, rgb]);
});
