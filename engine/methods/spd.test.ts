/** SPD's defining properties (METHODS.md §SPD), on one tensor with onnxruntime running the emitted update. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adamW } from '../programs/optimizer';
import { spdUpdate } from './spd';
import { oneUpdate } from './testing/one-update';

const N = 6;
const step = oneUpdate;

const norm = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.sqrt(Array.from(a).reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const theta0 = [0.5, -0.2, 0.1, 0.3, -0.4, 0.2];
const away = [0.1, 0.1, -0.1, 0.05, 0.0, 0.2]; // θ_{t−1} − θ0
const theta = theta0.map((x, i) => x + away[i]);

test('SPD projects exactly when ⟨g, θ − θ0⟩ > 0, by r = clip((‖θ̃−θ0‖ − ‖θ−θ0‖)/‖θ̃−θ0‖, 0, 1)', async () => {
  // the Adam step moves against g: g = −(θ − θ0) moves θ further from θ0 → ⟨g, θ−θ0⟩ < 0 → c > 0 → no projection
  const grow = away.map((d) => -d);
  const adam = await step(adamW, theta, grow, theta0);
  const a = await step(spdUpdate({ lambda: 1 }), theta, grow, theta0);
  assert.equal(a.fired, 0);
  assert.equal(a.moved, 0);
  assert.deepEqual(Array.from(a.param), Array.from(adam.param));

  // ⟨g, θ−θ0⟩ > 0 (one large aligned coordinate) while Adam's sign-like first step grows the deviation on the others
  const g2 = [-1, -1, 1, -1, 1, 10]; // ⟨g2, away⟩ = −0.1 − 0.1 − 0.1 − 0.05 + 0 + 2 = 1.65 > 0
  const adam2 = await step(adamW, theta, g2, theta0);
  const b2 = await step(spdUpdate({ lambda: 0.7 }), theta, g2, theta0);
  assert.equal(b2.fired, 1);
  assert.equal(b2.moved, 1, 'the condition held and r > 0: the projection moved the tensor');
  const nt = norm(adam2.param, theta0);
  const np = norm(theta, theta0);
  const r = Math.min(1, Math.max(0, (nt - np) / nt));
  assert.ok(r > 0 && r < 1, `test case should have an interior r, got ${r}`);
  const expect = Array.from(adam2.param, (x, i) => x - 0.7 * r * (x - theta0[i]));
  for (let i = 0; i < N; i++)
    assert.ok(Math.abs(b2.param[i] - expect[i]) < 1e-6, `coord ${i}: ${b2.param[i]} vs ${expect[i]}`);
});

test('SPD: r is clipped to 0 when the Adam step shrinks the deviation, and to ≤ 1 always', async () => {
  // g aligned with θ − θ0: fires, but the Adam step moves towards θ0 → ‖θ̃−θ0‖ < ‖θ−θ0‖ → r = 0 → θ̃
  const g = away.map((d) => (d === 0 ? 0 : d));
  const adam = await step(adamW, theta, g, theta0);
  const s = await step(spdUpdate({ lambda: 1 }), theta, g, theta0);
  assert.equal(s.fired, 1);
  assert.equal(s.moved, 0, 'the condition held but r = 0: nothing moved, the step was plain Adam');
  assert.ok(norm(adam.param, theta0) < norm(theta, theta0));
  assert.deepEqual(Array.from(s.param), Array.from(adam.param));
  // θ exactly at θ0 would make the inner product 0: no projection, no division by zero
  const at = await step(spdUpdate({ lambda: 1 }), theta0, [1, 1, 1, 1, 1, 1], theta0);
  assert.equal(at.fired, 0);
  assert.ok(Array.from(at.param).every(Number.isFinite));
  // λ = 1 with r = 1 lands on θ0 at most: the result never passes the anchor
  const big = [5, -5, 5, -5, 5, 5];
  const far = await step(spdUpdate({ lambda: 1 }), theta, big, theta0);
  assert.ok(norm(far.param, theta0) <= norm(theta, theta0) + 1e-6);
});

test('SPD with λ = 0 is plain Adam bit for bit, and the head is never projected', async () => {
  const g2 = [1, -1, 1, -1, 1, 1];
  const adam = await step(adamW, theta, g2, theta0);
  const zero = await step(spdUpdate({ lambda: 0 }), theta, g2, theta0);
  assert.deepEqual(Array.from(zero.param), Array.from(adam.param));
  assert.equal(zero.moved, 0, 'λ = 0 never moves a tensor, whatever the condition');
  const head = await step(spdUpdate({ lambda: 1 }), theta, g2, theta0, true);
  assert.deepEqual(Array.from(head.param), Array.from(adam.param));
});

test('SPD anchors: backbone tensors at their pretrained value, adapter tensors (LoRA A and B) at 0 as the official README', async () => {
  const { loadBackbone, withNewHead } = await import('../backbone/load');
  const { compileTrainProgram } = await import('../programs/compile');
  const { MODELS } = await import('../testing/fixtures');
  const { lora } = await import('./lora');
  const { bitfit } = await import('./bitfit');
  const p = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const anchorsOf = async (method: typeof lora) => {
    const mp = await method.prepare({ backbone: p, options: {}, seed: 1, batch: 2 });
    const tp = await compileTrainProgram(p.model, mp.program, {
      batch: 2,
      numClasses: 3,
      clipNorm: null,
      update: spdUpdate({ lambda: 1 }),
    });
    const g = tp.model.graph;
    // the anchor is the initializer subtracted from the parameter: θ_{t−1} − θ0
    const out = new Map<string, Float32Array>();
    for (const n of g.nodes)
      if (n.op === 'Sub' && tp.initial.has(n.inputs[0]) && /spd_anchor/.test(n.inputs[1]))
        out.set(n.inputs[0], g.initializers.get(n.inputs[1])!.data as Float32Array);
    return { tp, anchors: out };
  };
  const a = await anchorsOf(lora);
  const loraA = [...a.anchors.keys()].filter((k) => k.endsWith('::lora_A'));
  assert.ok(loraA.length > 0);
  for (const k of loraA) {
    assert.ok(
      a.tp.initial.get(k)!.data.some((v) => v !== 0),
      'A starts random',
    );
    assert.ok(
      a.anchors.get(k)!.every((v) => v === 0),
      `${k} anchored at 0`,
    );
  }
  const b = await anchorsOf(bitfit);
  assert.ok(b.anchors.size > 0);
  for (const [k, anchor] of b.anchors)
    assert.deepEqual(
      Array.from(anchor),
      Array.from(b.tp.initial.get(k)!.data as Float32Array),
      `${k} anchored at its pretrained value`,
    );
});
