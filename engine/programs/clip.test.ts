/**
 * Gradient clipping follows the run's setting: `clipNorm: null` (the linear probe's default, `--clip-norm none`)
 * leaves the gradient untouched; a number clips its global norm. Checked on the real compiled head program with
 * an update rule that exposes the gradient it receives (θ ← θ − g).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from '../backbone/load';
import { FEATURES, LOGITS } from '../backbone/prepare';
import { tensor, type Tensor } from '../ir/tensor';
import { linear } from '../methods/linear';
import { createSession } from '../runtime/session';
import { MODELS } from '../testing/fixtures';
import { headModel } from '../train/head-model';
import { mulberry32 } from '../util/random';
import { BC1, BC2, compileTrainProgram, GRAD_NORM, INV_WEIGHT, LR, TARGETS } from './compile';
import { buildTargets } from './loss';
import type { UpdateRule } from './optimizer';

/** θ ← θ − g: the step is the (clipped) gradient itself. */
const gradientStep: UpdateRule = (u) => ({ param: u.b.sub(u.param, u.grad), m: u.m, v: u.v });

async function step(clipNorm: number | null): Promise<{ moved: number; gradNorm: number }> {
  const prepared = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const mp = await linear.prepare({ backbone: prepared, options: {}, seed: 0, batch: 4 });
  const prog = await compileTrainProgram(headModel(prepared), mp.program, {
    batch: 4,
    numClasses: 3,
    clipNorm,
    update: gradientStep,
  });
  const rng = mulberry32(3);
  // large features make the head's gradient norm far above 1
  const x = tensor(
    'float32',
    [4, prepared.featureDim],
    Array.from({ length: 4 * prepared.featureDim }, () => (rng() - 0.5) * 200),
  );
  const { targets, invWeight } = buildTargets([0, 1, 2, 0], [1, 1, 1, 1], 3, 0);
  const feeds: Record<string, Tensor> = {
    [FEATURES]: x,
    [TARGETS]: tensor('float32', [4, 3], targets),
    [INV_WEIGHT]: tensor('float32', [], [invWeight]),
    [LR]: tensor('float32', [], [1]),
    [BC1]: tensor('float32', [], [0.1]),
    [BC2]: tensor('float32', [], [0.001]),
  };
  for (const s of prog.state) {
    const t = prog.initial.get(s.param)!;
    feeds[s.param] = t;
    feeds[s.m] = tensor('float32', t.dims);
    feeds[s.v] = tensor('float32', t.dims);
  }
  assert.equal(prog.imageInput, FEATURES);
  const session = await createSession(prog.model, { provider: 'cpu' });
  const out = await session.run(feeds);
  await session.release();
  let sq = 0;
  for (const s of prog.state) {
    const before = prog.initial.get(s.param)!.data as Float32Array;
    const after = out[s.paramOut].data as Float32Array;
    for (let i = 0; i < before.length; i++) sq += (after[i] - before[i]) ** 2;
  }
  assert.ok(out[LOGITS]);
  return { moved: Math.sqrt(sq), gradNorm: (out[GRAD_NORM].data as Float32Array)[0] };
}

test('clipNorm null does not clip; a number clips the global gradient norm to it', async () => {
  const free = await step(null);
  assert.ok(free.gradNorm > 5, `the test needs a gradient norm above 1, got ${free.gradNorm}`);
  assert.ok(
    Math.abs(free.moved - free.gradNorm) / free.gradNorm < 1e-4,
    `unclipped step ${free.moved} vs ‖g‖ ${free.gradNorm}`,
  );
  const clipped = await step(1);
  assert.ok(
    Math.abs(clipped.gradNorm - free.gradNorm) < 1e-3 * free.gradNorm,
    'grad_norm reports the norm before clipping',
  );
  assert.ok(Math.abs(clipped.moved - 1) < 1e-4, `clipped step has norm ${clipped.moved}`);
  // the linear probe's default is no clipping (METHODS.md baselines train the head with plain AdamW)
  assert.equal(linear.defaults.clipNorm, null);
});
