/** Pure renderer helpers: progress, ETA and the wording of engine phases. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etaSeconds, formatDuration, overallFraction, phaseLabel } from '../renderer/src/lib/eta';

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
  });

  it('words phases for people and hides file paths', () => {
    assert.equal(phaseLabel('prepare', '/tmp/run'), 'Preparing the run');
    assert.equal(phaseLabel('features:val'), 'Computing image features — validation images');
    assert.equal(phaseLabel('compile', 'Linear probe, batch 32'), 'Building the training program — Linear probe, batch 32');
    assert.equal(phaseLabel('gps-select'), 'Gps-select');
  });
});
