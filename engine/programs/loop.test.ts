import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from '../backbone/load';
import { full } from '../methods/full';
import { tensor, type Tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';
import { TrainingState } from '../train/state';
import { MODELS } from '../testing/fixtures';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LOSS, LR, TARGETS } from './compile';
import { buildTargets } from './loss';
import { compileLoopProgram, scanRow, stackFeeds } from './loop';

test('K steps inside an ONNX Loop give the same weights, moments and losses as K single steps', async () => {
  const bb = await loadBackbone(MODELS.tinyCnn);
  const prepared = withNewHead(bb, 3, 0);
  const mp = await full.prepare({ backbone: prepared, options: {}, seed: 0, batch: 4 });
  const step = await compileTrainProgram(prepared.model, mp.program, { batch: 4, numClasses: 3, clipNorm: 1 });
  const K = 3;
  const loop = compileLoopProgram(step, K);
  const feedsFor = (t: number): Record<string, Tensor> => {
    const x = tensor('float32', [4, 3, 32, 32]);
    for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] = Math.sin(i * 0.013 * t);
    const labels = [0, 1, 2, t % 3];
    const { targets, invWeight } = buildTargets(labels, [1, 1, 1, 1], 3, 0.1);
    return {
      [step.imageInput]: x,
      [TARGETS]: tensor('float32', [4, 3], targets),
      [INV_WEIGHT]: tensor('float32', [], [invWeight]),
      [LR]: tensor('float32', [], [1e-2 / t]),
      [BC1]: tensor('float32', [], [1 - 0.9 ** t]),
      [BC2]: tensor('float32', [], [1 - 0.999 ** t]),
    };
  };
  const perStep = [1, 2, 3].map(feedsFor);

  const single = await createSession(step.model);
  const a = TrainingState.fresh(step);
  const losses: number[] = [];
  for (const f of perStep) {
    const feeds = { ...f };
    a.feeds(feeds);
    const out = await single.run(feeds);
    a.update(out);
    losses.push((out[LOSS].data as Float32Array)[0]);
  }

  const looped = await createSession(loop.model);
  const b = TrainingState.fresh(step);
  const feeds = stackFeeds(loop, perStep);
  b.feeds(feeds);
  const out = await looped.run(feeds);
  b.update(out);
  const loopLosses = [0, 1, 2].map((i) => (scanRow(out[loop.scans.get(LOSS)!], i).data as Float32Array)[0]);

  for (let i = 0; i < K; i++)
    assert.ok(Math.abs(losses[i] - loopLosses[i]) < 1e-5, `loss ${i}: ${losses[i]} vs ${loopLosses[i]}`);
  assert.ok(losses[2] !== losses[0], 'the weights really changed between steps');
  for (const [k, t] of a.values) {
    const u = b.values.get(k)!.data as Float32Array;
    let d = 0;
    (t.data as Float32Array).forEach((v, i) => (d = Math.max(d, Math.abs(v - u[i]))));
    assert.ok(d < 1e-5, `${k} differs by ${d}`);
  }
});
