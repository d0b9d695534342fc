/**
 * The app's "Find the best method for my data": the façade's race (trials in-process)
 * and the recommendation it replaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listMethods, raceMethods } from '../api';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';

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
