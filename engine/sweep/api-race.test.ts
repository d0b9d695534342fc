/**
 * The app's "Find the best method for my data": the façade's race (trials in-process)
 * and the recommendation it replaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listMethods, raceMethods } from '../api';
import { DATASETS, MODELS, SHARED, sampleDataset, tempDir } from '../testing/fixtures';

test('raceMethods runs successive halving in-process; listMethods then recommends the winner with its interval', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 10);
  const outDir = join(tempDir(), 'race');
  const events: string[] = [];
  const r = await raceMethods(
    {
      dataPath: data,
      modelPath: MODELS.tinyVit,
      methods: ['linear', 'lora', 'spd'],
      epochs: 3,
      seeds: [0, 1],
      batchSize: 8,
      outDir,
    },
    { onEvent: (e) => events.push(e.type) },
  );
  assert.ok(events.includes('progress') && events.includes('epoch'));
  assert.equal(r.rungs.length, 1);
  assert.deepEqual(r.rungs[0].candidates.map((c) => c.name).sort(), ['linear', 'lora', 'spd']);
  assert.equal(r.rungs[0].candidates.filter((c) => c.kept).length, 1);
  assert.equal(r.winner, r.rungs[0].candidates.find((c) => c.kept)!.name);
  assert.ok(['linear', 'lora', 'spd'].includes(r.winnerMethod!));
  assert.equal(r.testAccuracy!.n, 2);
  assert.ok(r.testAccuracy!.ci95);
  // every trial is an ordinary run folder
  assert.ok(existsSync(join(outDir, 'rungs', 'r1', 'trials', `${r.winner}-s1`, 'evaluation.json')));
  const listing = await listMethods({ modelPath: MODELS.tinyVit, trainCount: 24, raceDir: outDir });
  assert.equal(listing.recommendation!.name, r.winnerMethod);
  assert.match(listing.recommendation!.why, /method race on your data.*95 % interval/);
  assert.equal(listing.methods.find((m) => m.recommended)!.name, r.winnerMethod);
  assert.equal(listing.race!.winner, r.winner);
  // without a race, the rule of thumb
  assert.doesNotMatch(
    (await listMethods({ modelPath: MODELS.tinyVit, trainCount: 24 })).recommendation!.why,
    /method race/,
  );
});

test('a race trains what a run of the project would (bands, balance, corrections); other settings replace it', async () => {
  const data = sampleDataset(join(SHARED, 'datasets/eurosat-ms'), ['Forest', 'SeaLake'], 6);
  const outDir = join(tempDir(), 'race');
  const gone = `Forest/${readdirSync(join(data, 'Forest')).sort()[0]}`;
  const moved = `SeaLake/${readdirSync(join(data, 'SeaLake')).sort()[0]}`;
  const ask = {
    dataPath: data,
    modelPath: MODELS.tinyVit,
    methods: ['linear', 'bitfit'],
    epochs: 1,
    seeds: [0],
    batchSize: 4,
    bands: 'all',
    balance: 'sampling' as const,
    overrides: { exclude: [gone], relabel: { [moved]: 'Forest' } },
    outDir,
  };
  const r = await raceMethods(ask);
  const split = JSON.parse(readFileSync(join(outDir, 'rungs', 'r0', 'splits', 'split.json'), 'utf8')) as {
    items: { file: string; label: string }[];
  };
  assert.equal(split.items.length, 11);
  assert.ok(!split.items.some((i) => i.file === gone));
  assert.equal(split.items.find((i) => i.file === moved)!.label, 'Forest');
  const trial = JSON.parse(
    readFileSync(join(outDir, 'rungs', 'r1', 'trials', `${r.winner}-s0`, 'run.json'), 'utf8'),
  ) as {
    balance: string;
    preprocessing: { values: { bands: { selection: unknown; bandCount: number } } };
  };
  assert.equal(trial.balance, 'sampling');
  assert.deepEqual(trial.preprocessing.values.bands.selection, { mode: 'all' });
  assert.equal(trial.preprocessing.values.bands.bandCount, 13);
  // other settings: refused where the folder is the caller's, replaced where it is the app's own
  const other = { ...ask, methods: ['linear', 'gps'] };
  await assert.rejects(raceMethods(other), /different sweep/);
  const again = await raceMethods({ ...other, replaceDifferent: true });
  assert.deepEqual(again.rungs[0].candidates.map((c) => c.name).sort(), ['gps', 'linear']);
  assert.ok(!existsSync(join(outDir, 'rungs', 'r0', 'trials', 'bitfit-s0')), 'the old race is gone');
  // the same settings again resume it: nothing is replaced or retrained
  const same = await raceMethods({ ...other, replaceDifferent: true });
  assert.deepEqual(same, again);
});
