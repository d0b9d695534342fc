/** The widened first convolution trains in the methods that freeze the backbone's weights, and reaches the export. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from '../backbone/load';
import { widenBackbone } from '../backbone/widen-input';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LR, TARGETS } from '../programs/compile';
import { buildTargets } from '../programs/loss';
import { tensor, type Tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';
import { TrainingState } from '../train/state';
import { MODELS } from '../testing/fixtures';
import { bitfit } from './bitfit';
import { full } from './full';
import { linear } from './linear';
import { lora } from './lora';
import { trainWidenedInput } from './widened-input';

test('BitFit and LoRA on a 13-band ViT train the widened patch embedding; full already does; linear does not', async () => {
  const wide = await widenBackbone(await loadBackbone(MODELS.tinyVit), 13, { rgbBands: [4, 3, 2] });
  const prepared = withNewHead(wide, 3, 0);
  const weight = wide.widened.weight;
  const names = async (m: typeof bitfit) => {
    const p = trainWidenedInput(
      m,
      await m.prepare({ backbone: prepared, options: {}, seed: 0, batch: 2 }),
      prepared,
      0.01,
    );
    return p.program.trainable(structuredClone(prepared.model.graph)).map((t) => t.name);
  };
  assert.ok((await names(bitfit)).includes(weight));
  assert.ok((await names(lora)).includes(weight));
  assert.equal((await names(full)).filter((n) => n === weight).length, 1, 'not listed twice');
  assert.ok(!(await names(linear)).includes(weight));
  // without widening nothing changes
  const plain = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const bf = await bitfit.prepare({ backbone: plain, options: {}, seed: 0, batch: 2 });
  assert.equal(trainWidenedInput(bitfit, bf, plain, 0.01), bf);

  // one real BitFit step: the widened weight moves, a frozen block weight does not exist as a trainable; merge keeps it
  const mp = trainWidenedInput(
    bitfit,
    await bitfit.prepare({ backbone: prepared, options: {}, seed: 0, batch: 2 }),
    prepared,
    0.01,
  );
  const step = await compileTrainProgram(prepared.model, mp.program, { batch: 2, numClasses: 3, clipNorm: 1 });
  assert.deepEqual(step.model.graph.inputs.find((i) => i.name === step.imageInput)!.shape, [2, 13, 32, 32]);
  const state = TrainingState.fresh(step);
  const x = tensor(
    'float32',
    [2, 13, 32, 32],
    Array.from({ length: 2 * 13 * 32 * 32 }, (_, i) => Math.sin(i * 0.07)),
  );
  const { targets, invWeight } = buildTargets([0, 2], [1, 1], 3, 0);
  const feeds: Record<string, Tensor> = {
    [step.imageInput]: x,
    [TARGETS]: tensor('float32', [2, 3], targets),
    [INV_WEIGHT]: tensor('float32', [], [invWeight]),
    [LR]: tensor('float32', [], [1e-2]),
    [BC1]: tensor('float32', [], [0.1]),
    [BC2]: tensor('float32', [], [0.001]),
  };
  state.feeds(feeds);
  const s = await createSession(step.model);
  state.update(await s.run(feeds));
  await s.release();
  const before = prepared.model.graph.initializers.get(weight)!.data as Float32Array;
  const after = state.values.get(weight)!.data as Float32Array;
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (after[i] !== before[i]) moved++;
  assert.ok(moved > before.length * 0.9, `${moved}/${before.length} entries of the widened weight moved`);
  const merged = mp.merge(prepared.model, new Map([[weight, state.values.get(weight)!]]));
  assert.deepEqual(merged.graph.initializers.get(weight)!.data, after);
  assert.equal(mp.describe().inputChannels, 13);
});
