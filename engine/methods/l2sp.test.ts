/**
 * L2-SP's defining property (METHODS.md baselines): the update is exactly Adam on loss + (λ/2)·‖θ − θ0‖², with the
 * penalty's gradient checked against float64 central differences; the head is not anchored (plain AdamW decay).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adamW } from '../programs/optimizer';
import { l2spUpdate } from './l2sp';
import { oneUpdate } from './testing/one-update';

const theta0 = [0.5, -0.2, 0.1, 0.3, -0.4, 0.2];
const theta = [0.62, -0.31, 0.05, 0.3, -0.1, 0.45];
// small enough that the penalty flips some of Adam's first-step signs
const g = [0.03, -0.02, 0.5, -0.01, -0.01, -0.004];

/** (λ/2)·‖θ − θ0‖² in float64 */
const penalty = (lambda: number, t: number[]) => (lambda / 2) * t.reduce((s, v, i) => s + (v - theta0[i]) ** 2, 0);

test('L2-SP: one step equals Adam on the loss gradient plus the penalty gradient (float64 central differences)', async () => {
  for (const lambda of [0.1, 3]) {
    const h = 1e-6;
    const dP = theta.map((_, i) => {
      const plus = theta.map((v, j) => (j === i ? v + h : v));
      const minus = theta.map((v, j) => (j === i ? v - h : v));
      return (penalty(lambda, plus) - penalty(lambda, minus)) / (2 * h);
    });
    const expected = await oneUpdate(
      adamW,
      theta,
      g.map((v, i) => v + dP[i]),
      theta0,
    );
    const got = await oneUpdate(l2spUpdate(lambda), theta, g, theta0);
    for (let i = 0; i < theta.length; i++)
      assert.ok(
        Math.abs(got.param[i] - expected.param[i]) < 1e-6,
        `λ ${lambda}, coord ${i}: ${got.param[i]} vs ${expected.param[i]}`,
      );
    // and the penalty really changed the step: not plain Adam on g
    const plain = await oneUpdate(adamW, theta, g, theta0);
    assert.ok(
      Array.from(got.param).some((v, i) => Math.abs(v - plain.param[i]) > 1e-5),
      `λ ${lambda} changes the step`,
    );
  }
  // at θ = θ0 the penalty and its gradient vanish: plain Adam
  const atAnchor = await oneUpdate(l2spUpdate(1), theta0, g, theta0);
  assert.deepEqual(Array.from(atAnchor.param), Array.from((await oneUpdate(adamW, theta0, g, theta0)).param));
});

test('L2-SP: the head is not pulled to its random init; it gets plain AdamW with its decay', async () => {
  const head = await oneUpdate(l2spUpdate(1), theta, g, theta0, true, 1e-4);
  const adam = await oneUpdate(adamW, theta, g, theta0, true, 1e-4);
  assert.deepEqual(Array.from(head.param), Array.from(adam.param));
});
