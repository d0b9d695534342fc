/** Pure renderer helpers: progress, ETA and the wording of engine phases. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etaSeconds, formatDuration, formatRate, overallFraction, phaseLabel } from '../renderer/src/lib/eta';
import { confusedPairs, orderClasses } from '../renderer/src/lib/confusion';
import { applyEngineEvent, validAccuracy } from '../main/runs/apply-event';
import type { EngineEvent } from '../main/jobs/engine-contract';

describe('progress arithmetic', () => {
  it('treats engine epochs as 0-based and steps as done-in-epoch', () => {
    assert.equal(overallFraction({ epoch: 0, step: 5, stepsPerEpoch: 10, at: 0 }, 2), 0.25);
    assert.equal(overallFraction({ epoch: 1, step: 10, stepsPerEpoch: 10, at: 0 }, 2), 1);
    assert.equal(overallFraction(null, 2), 0);
  });

  it('estimates the time left from the pace so far', () => {
    const first = { epoch: 0, step: 1, stepsPerEpoch: 10, at: 0 };
    const last = { epoch: 0, step: 6, stepsPerEpoch: 10, at: 10_000 };
    // 5 steps in 10 s, 14 steps left over 2 epochs → 28 s
    assert.equal(Math.round(etaSeconds(first, last, 2)!), 28);
    assert.equal(etaSeconds(first, first, 2), null);
    assert.equal(formatDuration(28), '28 s');
    assert.equal(formatDuration(125), '2 min 5 s');
    assert.equal(formatDuration(null), '—');
    // rounded before it is split: never "1 min 60 s" or "0 h 60 min"
    assert.equal(formatDuration(59.6), '1 min 0 s');
    assert.equal(formatDuration(119.7), '2 min 0 s');
    assert.equal(formatDuration(3599.6), '1 h 0 min');
    assert.equal(formatDuration(7170), '2 h 0 min');
    assert.equal(formatRate(33.27), '33.3');
    assert.equal(formatRate(48348.04), '48 348');
    assert.equal(formatRate(null), '—');
  });

  it('words phases for people and hides file paths', () => {
    assert.equal(phaseLabel('prepare', '/tmp/run'), 'Preparing the run');
    assert.equal(phaseLabel('features:val'), 'Computing image features — validation images');
    assert.equal(
      phaseLabel('compile', 'Linear probe, batch 32'),
      'Building the training program — Linear probe, batch 32',
    );
    assert.equal(phaseLabel('gps-select'), 'Gps-select');
  });
});

describe('applyEngineEvent (shared by main and the renderer store)', () => {
  const fresh = () => ({
    provider: null as string | null,
    providerNote: null as string | null,
    memoryNote: null as string | null | undefined,
    epochs: [],
    steps: [],
    bestValAccuracy: null as number | null,
  });
  const epoch = (e: number, valAccuracy: number) =>
    ({
      type: 'epoch',
      epoch: e,
      epochs: 3,
      trainLoss: 1,
      valLoss: 1,
      trainAccuracy: 0.5,
      valAccuracy,
      seconds: 1,
    }) as unknown as EngineEvent;

  it('words a provider fallback once, and saves it', () => {
    const r = fresh();
    assert.equal(
      applyEngineEvent(r, { type: 'provider', provider: 'cpu', requested: 'cuda', fallbackReason: 'no GPU found' }),
      true,
    );
    assert.equal(r.providerNote, 'Requested cuda; using cpu because no GPU found');
    applyEngineEvent(r, { type: 'provider', provider: 'cuda', requested: 'cuda' });
    assert.equal(r.providerNote, null);
  });

  it('keeps a memory warning on the run (saved), and nothing when the estimate fits', () => {
    const r = fresh();
    const notice = (enough: boolean) =>
      ({
        type: 'memory',
        estimatedBytes: 12e9,
        availableBytes: 9e9,
        batch: 32,
        enough,
        fitsBatch: enough ? null : 16,
        fitsBatchBytes: enough ? null : 6e9,
        message: enough ? 'Memory: this run needs about 11.2 GB' : 'Memory: this run may need about 11.2 GB …',
      }) as const;
    assert.equal(applyEngineEvent(r, notice(true)), false);
    assert.equal(r.memoryNote, null);
    assert.equal(applyEngineEvent(r, notice(false)), true);
    assert.equal(r.memoryNote, 'Memory: this run may need about 11.2 GB …');
  });

  it('keeps the best validation accuracy and never a placeholder below 0', () => {
    const r = fresh();
    applyEngineEvent(r, epoch(0, 0.6));
    applyEngineEvent(r, epoch(1, 0.55));
    assert.equal(r.bestValAccuracy, 0.6);
    applyEngineEvent(r, epoch(1, 0.7)); // a resumed epoch replaces its earlier record
    assert.equal(r.epochs.length, 2);
    assert.equal(r.bestValAccuracy, 0.7);
    const c = fresh();
    applyEngineEvent(c, epoch(0, -1));
    assert.equal(c.bestValAccuracy, null);
    assert.equal(validAccuracy(-1), null);
    assert.equal(validAccuracy(Number.NaN), null);
    assert.equal(validAccuracy(0.5), 0.5);
  });
});

describe('confusion matrix helpers', () => {
  // 0 and 2 are confused with each other; 1 is clean
  const m = [
    [5, 0, 4],
    [0, 9, 0],
    [3, 1, 6],
  ];
  it('lists the most confused pairs, largest first', () => {
    assert.deepEqual(confusedPairs(m, 2), [
      { t: 0, p: 2, count: 4 },
      { t: 2, p: 0, count: 3 },
    ]);
  });
  it('orders by recall or puts confused classes side by side', () => {
    assert.deepEqual(orderClasses(m, 'listed'), [0, 1, 2]);
    assert.deepEqual(orderClasses(m, 'recall'), [0, 2, 1]);
    const c = orderClasses(m, 'clustered');
    assert.equal(Math.abs(c.indexOf(0) - c.indexOf(2)), 1);
    assert.deepEqual([...c].sort(), [0, 1, 2]);
  });
});
