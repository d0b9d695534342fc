/** Recommendations: a known method and preset for every size, with reasons, and batches that fit the device. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceBatch, recommendMethod, sizeClass } from './recommend';
import { METHODS } from './registry';

const known = new Set([...METHODS.map((m) => m.name), 'spd']);

test('every dataset size gets a known method, a preset and a reason; PACE is the GPU alternative for small data', () => {
  assert.deepEqual([499, 500, 4999, 5000].map(sizeClass), ['tiny', 'small', 'small', 'large']);
  for (const n of [50, 499, 2000, 20000])
    for (const hasAccelerator of [false, true]) {
      const r = recommendMethod(n, { hasAccelerator });
      assert.ok(known.has(r.method) && known.has(r.alternative.method), `${r.method} / ${r.alternative.method}`);
      assert.ok(r.reason.length > 40 && r.alternative.reason.length > 40);
      assert.ok(r.hyper.epochs && r.hyper.batch && r.hyper.lr);
      assert.notEqual(r.method, r.alternative.method);
    }
  assert.equal(recommendMethod(300, { hasAccelerator: true }).alternative.method, 'pace');
  assert.equal(recommendMethod(300).alternative.method, 'linear');
});

test("PACE's batch is capped on a machine without an accelerator (two passes per batch), nothing else is", () => {
  assert.equal(deviceBatch('pace', 64, false), 32);
  assert.equal(deviceBatch('pace', 8, false), 8);
  assert.equal(deviceBatch('pace', 64, true), 64);
  assert.equal(deviceBatch('full', 32, false), 32);
});
