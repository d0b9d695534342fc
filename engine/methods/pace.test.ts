/**
 * PACE's loss (METHODS.md §PACE), on the real compiled train step of the tiny ViT fixture in onnxruntime:
 *  - L = CE(f1, y) + λ·mean_b ‖f1 − f2‖², where f1 and f2 are the logits of two passes with independent noise,
 *    recomputed here from two runs of the one-pass program (PACE with λ = 0) fed each copy's noise;
 *  - the two copies draw different noise, and with equal noise the consistency term vanishes;
 *  - PACE-fast: no term for a sample without stored logits, then λ·mean_b ‖f − f_prev‖² against the logits
 *    stored for the same file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from '../backbone/load';
import { LOGITS } from '../backbone/prepare';
import { tensor, type Tensor } from '../ir/tensor';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LOSS, LR, TARGETS, type TrainProgram } from '../programs/compile';
import { buildTargets } from '../programs/loss';
import { createSession } from '../runtime/session';
import { MODELS } from '../testing/fixtures';
import { mulberry32 } from '../util/random';
import { PACE_TERM, pace } from './pace/index';
import { dropPathMask, dropPathRates, PACE_DROP_PATH_RATE } from './pace/drop-path';

const B = 2;
const C = 3;
const labels = [0, 2];

async function setup(options: Record<string, number | boolean>) {
  const p = withNewHead(await loadBackbone(MODELS.tinyVit), C, 0);
  const m = await pace.prepare({ backbone: p, options: { sigma: 1, ...options }, seed: 1, batch: B });
  const tp = await compileTrainProgram(p.model, m.program, { batch: B, numClasses: C, clipNorm: null });
  return { m, tp, session: await createSession(tp.model, { provider: 'cpu' }) };
}

/** Adapter values away from their zero start (Δh = 0 there, and noise would change nothing). */
function randomAdapters(tp: TrainProgram): Map<string, Tensor> {
  const rng = mulberry32(9);
  return new Map(
    [...tp.initial].map(([k, t]) => [
      k,
      tensor(
        'float32',
        t.dims,
        Array.from(t.data as Float32Array, () => (rng() - 0.5) * 0.6),
      ),
    ]),
  );
}

function feedsFor(
  tp: TrainProgram,
  params: Map<string, Tensor>,
  extra: Record<string, Tensor>,
): Record<string, Tensor> {
  const rng = mulberry32(4);
  const { targets, invWeight } = buildTargets(labels, [1, 1], C, 0);
  const feeds: Record<string, Tensor> = {
    [tp.imageInput]: tensor(
      'float32',
      [B, 3, 32, 32],
      Array.from({ length: B * 3 * 32 * 32 }, () => rng() * 2 - 1),
    ),
    [TARGETS]: tensor('float32', [B, C], targets),
    [INV_WEIGHT]: tensor('float32', [], [invWeight]),
    [LR]: tensor('float32', [], [1e-3]),
    [BC1]: tensor('float32', [], [0.1]),
    [BC2]: tensor('float32', [], [0.001]),
    ...extra,
  };
  for (const s of tp.state) {
    const t = params.get(s.param)!;
    feeds[s.param] = t;
    feeds[s.m] = tensor('float32', t.dims);
    feeds[s.v] = tensor('float32', t.dims);
  }
  return feeds;
}

const scalar = (out: Record<string, Tensor>, k: string) => (out[k].data as Float32Array)[0];
const rows = (t: Tensor) =>
  Array.from({ length: B }, (_, b) => Array.from((t.data as Float32Array).subarray(b * C, (b + 1) * C)));
const sqDist = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
const ce = (f: number[], y: number) => Math.log(f.reduce((s, v) => s + Math.exp(v), 0)) - f[y];

test('PACE: loss = CE(f1) + λ·mean‖f1 − f2‖² over two passes with independent noise; equal noise gives no term', async () => {
  const lambda = 0.5;
  const two = await setup({ lambda });
  const one = await setup({ lambda: 0 }); // the same adapters and noise layers, one pass
  const params = randomAdapters(two.tp);
  const at = { epoch: 0, step: 3, seed: 5, batchFiles: ['a', 'b'], count: B };
  const noise2 = Object.fromEntries(two.tp.extraInputs.map((e) => [e.name, e.fill!(at)]));
  assert.ok(Object.keys(noise2).length > 0);
  // split each [2B, out] draw into the copies' [B, out] draws (data is [rows][out] whatever the layout)
  const copy = (i: 0 | 1) =>
    Object.fromEntries(
      one.tp.extraInputs.map((e) => {
        const z = noise2[e.name].data as Float32Array;
        const half = z.length / 2;
        return [e.name, tensor('float32', e.shape as number[], z.subarray(i * half, (i + 1) * half))];
      }),
    );
  for (const e of one.tp.extraInputs.filter((x) => x.name.startsWith('pace_noise_'))) {
    const z = noise2[e.name].data as Float32Array;
    const half = z.length / 2;
    assert.ok(
      z.subarray(0, half).some((v, j) => v !== z[half + j]),
      `${e.name}: the two copies draw independent noise`,
    );
  }
  const f1 = rows((await one.session.run(feedsFor(one.tp, params, copy(0))))[LOGITS]);
  const f2 = rows((await one.session.run(feedsFor(one.tp, params, copy(1))))[LOGITS]);
  const out = await two.session.run(feedsFor(two.tp, params, noise2));
  const consistency = (lambda / B) * f1.reduce((s, r, b) => s + sqDist(r, f2[b]), 0);
  const expected = f1.reduce((s, r, b) => s + ce(r, labels[b]), 0) / B + consistency;
  assert.ok(consistency > 1e-4, `the noise must make the copies differ (term ${consistency})`);
  assert.ok(
    Math.abs(scalar(out, PACE_TERM) - consistency) < 1e-4 * (1 + consistency),
    `term ${scalar(out, PACE_TERM)} vs ${consistency}`,
  );
  assert.ok(Math.abs(scalar(out, LOSS) - expected) < 1e-4 * (1 + expected), `loss ${scalar(out, LOSS)} vs ${expected}`);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      assert.ok(Math.abs((out[LOGITS].data as Float32Array)[b * C + c] - f1[b][c]) < 1e-4, 'LOGITS is the first copy');
  // the same noise for both copies: f1 = f2, no consistency term
  const same = Object.fromEntries(
    two.tp.extraInputs.map((e) => {
      const z = new Float32Array(noise2[e.name].data as Float32Array);
      z.copyWithin(z.length / 2, 0, z.length / 2);
      return [e.name, tensor('float32', e.shape as number[], z)];
    }),
  );
  const eq = await two.session.run(feedsFor(two.tp, params, same));
  assert.ok(scalar(eq, PACE_TERM) < 1e-8, `equal noise: term ${scalar(eq, PACE_TERM)}`);
  await Promise.all([one.session.release(), two.session.release()]);
});

test('PACE-fast: no term without stored logits; then λ·mean‖f − f_prev‖² against the logits stored per file', async () => {
  const lambda = 0.7;
  const fast = await setup({ lambda, fast: true });
  const params = randomAdapters(fast.tp);
  const run = async (at: { epoch: number; step: number; batchFiles: string[] }) => {
    const full = { ...at, seed: 2, count: B };
    const extra = Object.fromEntries(fast.tp.extraInputs.map((e) => [e.name, e.fill!(full)]));
    const out = await fast.session.run(feedsFor(fast.tp, params, extra));
    fast.m.afterStep!({ ...full, logits: out[LOGITS].data as Float32Array });
    return { term: scalar(out, PACE_TERM), f: rows(out[LOGITS]) };
  };
  const first = await run({ epoch: 0, step: 0, batchFiles: ['a', 'b'] });
  assert.equal(first.term, 0, 'first epoch: nothing stored, no consistency term');
  // next epoch, other noise: file a is stored, file c is new
  const second = await run({ epoch: 1, step: 0, batchFiles: ['a', 'c'] });
  const expected = (lambda / B) * sqDist(second.f[0], first.f[0]);
  assert.ok(expected > 1e-5, 'different noise gives different logits');
  assert.ok(Math.abs(second.term - expected) < 1e-4 * (1 + expected), `term ${second.term} vs ${expected}`);
  await fast.session.release();
});

test('PACE drop-path: one mask per residual branch, shared by the two copies; with no noise the copies agree', async () => {
  // σ = 0: no noise at all, so any difference between the copies could only come from unshared drop-path masks
  const two = await setup({ lambda: 1, sigma: 0 });
  assert.equal(two.m.describe().dropPath, PACE_DROP_PATH_RATE);
  const masks = two.tp.extraInputs.filter((e) => e.name.startsWith('pace_drop_path_'));
  assert.equal(two.tp.extraInputs.length, masks.length, 'σ = 0: no noise inputs');
  const blocks = Number(two.m.state.blocks);
  assert.equal(
    masks.length,
    2 * dropPathRates(blocks).filter((r) => r > 0).length,
    'attention and MLP branch of every block with a non-zero rate',
  );
  const params = randomAdapters(two.tp);
  const neutral = await two.session.run(
    feedsFor(two.tp, params, Object.fromEntries(masks.map((e) => [e.name, e.neutral()]))),
  );
  // a step whose masks drop at least one branch of one sample
  let step = 0;
  const fill = (s: number) =>
    Object.fromEntries(masks.map((e) => [e.name, e.fill!({ epoch: 0, step: s, seed: 3, batchFiles: [], count: B })]));
  while (!Object.values(fill(step)).some((t) => (t.data as Float32Array).some((v) => v === 0))) step++;
  const dropped = await two.session.run(feedsFor(two.tp, params, fill(step)));
  assert.ok(scalar(dropped, PACE_TERM) < 1e-8, `shared masks: the copies agree (term ${scalar(dropped, PACE_TERM)})`);
  const a = dropped[LOGITS].data as Float32Array;
  const b = neutral[LOGITS].data as Float32Array;
  assert.ok(
    a.some((v, i) => Math.abs(v - b[i]) > 1e-5),
    'a dropped branch changes the logits',
  );
  await two.session.release();
});

test('PACE drop-path masks: rates rise linearly to 0.1 as timm assigns them; copies share a mask; divided by its mean', () => {
  assert.deepEqual(
    dropPathRates(12).map((r) => +r.toFixed(6)),
    Array.from({ length: 12 }, (_, l) => +((0.1 * l) / 11).toFixed(6)),
  );
  const spec = { name: 'm', rate: 0.3, shape: [2000, 1, 1], rows: 2000, copies: 2 as const, byMean: true, branch: 1 };
  const m = dropPathMask(spec, { seed: 1, epoch: 0, step: 0 }).data as Float32Array;
  for (let i = 0; i < 1000; i++) assert.equal(m[i], m[1000 + i], "copy 2 reuses copy 1's mask");
  const mean = m.reduce((s, v) => s + v, 0) / m.length;
  assert.ok(Math.abs(mean - 1) < 1e-5, `mean ${mean}`);
  const dropShare = m.filter((v) => v === 0).length / m.length;
  assert.ok(Math.abs(dropShare - 0.3) < 0.05, `drop share ${dropShare}`);
  // plain timm DropPath (PACE's base adapter, λ = 0): kept samples scaled by 1/keep
  const plain = dropPathMask({ ...spec, copies: 1, byMean: false }, { seed: 1, epoch: 0, step: 0 })
    .data as Float32Array;
  assert.ok(plain.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
});

test('ViT-Tiny/16: PACE drop-path covers both residual branches of blocks 1–11 (block 0 has rate 0)', async () => {
  const p = withNewHead(await loadBackbone(MODELS.vitTiny), 3, 0);
  const m = await pace.prepare({ backbone: p, options: {}, seed: 1, batch: 1 });
  const tp = await compileTrainProgram(p.model, m.program, { batch: 1, numClasses: 3, clipNorm: null });
  const masks = tp.extraInputs.filter((e) => e.name.startsWith('pace_drop_path_'));
  assert.equal(masks.length, 22);
  for (const e of masks)
    assert.deepEqual(
      (e.shape as number[]).filter((d) => d !== 1),
      [2],
      `${e.name} [${e.shape}]: one entry per row of [x; x]`,
    );
});
