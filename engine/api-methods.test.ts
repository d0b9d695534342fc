/**
 * Method cards through the façade: each method's own facts (trainable share, cost measured on this machine,
 * the paper's result stated as the paper's, long-schedule notes, exports), options read from their declared
 * defaults, and `spd` declared as full fine-tuning with the SPD optimizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listMethods } from './api';
import { loadBackbone, withNewHead } from './backbone/load';
import { numberOption, optionValue } from './methods/method';
import { getMethod, METHODS } from './methods/registry';
import { recommendMethod } from './methods/recommend';
import { MODELS } from './testing/fixtures';

test("method cards: measured cost on this machine, the papers' results as the papers', long schedules, exports", async () => {
  const l = await listMethods({ modelPath: MODELS.tinyVit, trainCount: 200 });
  assert.deepEqual(
    l.methods.map((m) => m.name),
    METHODS.map((m) => m.name),
    'one card per registered method, spd included',
  );
  for (const m of l.methods) {
    assert.ok(m.trainableShare! > 0 && m.trainableShare! <= 1, m.name);
    if (l.device === 'CPU') {
      // the linear probe pays its forward pass once (the feature pass); its epochs run on cached features
      if (m.name === 'linear') assert.ok(m.setupSeconds! > 0 && m.secondsPerEpoch === 0, m.name);
      else assert.ok(m.secondsPerEpoch! > 0 && m.setupSeconds === 0, m.name);
      assert.match(m.costBasis!, /measured on this machine/);
    }
    if (m.paper) assert.match(m.paper, /^From (its|the) paper/, `${m.name}: a paper result says it is the paper's`);
  }
  const card = (n: string) => l.methods.find((m) => m.name === n)!;
  assert.match(card('gps').schedule!, /100 epochs/);
  assert.match(card('pace').schedule!, /300 epochs/);
  assert.deepEqual(
    card('gps').exports.map((e) => e.file),
    ['gps-patch.bin'],
  );
  assert.deepEqual(card('full').exports, []);
  // PACE costs more per epoch than full fine-tuning, the linear probe less (cost = measured forward × declared factor)
  if (l.device === 'CPU')
    assert.ok(
      card('pace').secondsPerEpoch! > card('full').secondsPerEpoch! &&
        card('linear').setupSeconds! < card('full').secondsPerEpoch!,
    );
  // no recommendation rests on Attune's inconclusive benchmark
  for (const n of [100, 1000, 10000])
    for (const hasAccelerator of [false, true]) {
      const r = recommendMethod(n, { hasAccelerator });
      for (const text of [r.reason, r.alternative.reason])
        assert.doesNotMatch(text, /our benchmark|most accurate|steadier/i, text);
    }
});

test('method options come from their declarations; spd is full fine-tuning declared with the SPD optimizer', async () => {
  const lora = getMethod('lora');
  assert.equal(numberOption(lora.options, {}, 'rank'), lora.options.find((o) => o.name === 'rank')!.default);
  assert.equal(numberOption(lora.options, { rank: 4 }, 'rank'), 4);
  assert.throws(() => optionValue(lora.options, {}, 'sigma'), /not declared/);
  const p = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const prepared = await lora.prepare({ backbone: p, options: {}, seed: 0, batch: 2 });
  assert.equal(prepared.state.rank, 8, 'METHODS.md default rank 8, declared once');
  const pace = await getMethod('pace').prepare({ backbone: p, options: {}, seed: 0, batch: 2 });
  assert.deepEqual([pace.state.rank, pace.state.sigma, pace.state.lambda, pace.state.fast], [10, 1.5, 1, false]);
  const spd = getMethod('spd');
  const full = getMethod('full');
  assert.equal(spd.optimizer, 'spd');
  assert.equal(full.optimizer, undefined);
  assert.equal(spd.trainableParameters(p.model.graph, {}), full.trainableParameters(p.model.graph, {}));
  assert.equal(getMethod('pace').cpuBatch, 32);
});
