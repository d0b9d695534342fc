/**
 * The memory estimate counts what a compiled step keeps from its forward for its backward, from static shapes.
 * Whether the estimate matches measured peaks is a benchmark's question (`npm run bench:memory` prints both); here:
 * the counting is exact on a hand-built graph, follows the batch and the method on real programs, and the advice
 * proposes a batch that fits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadBackbone, withNewHead } from '../backbone/load';
import { downstreamOf, producers, type Graph } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import type { MethodOptions } from '../methods/method';
import { getMethod } from '../methods/registry';
import { encodeModel } from '../onnx/io';
import { ortOptions, toOrt } from '../runtime/session';
import { MODELS } from '../testing/fixtures';
import { TrainingState } from '../train/state';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LR, TARGETS, type TrainProgram } from './compile';
import { buildTargets } from './loss';
import {
  ESTIMATE_MARGIN,
  estimateAtBatch,
  estimatePeakBytes,
  memoryAdvice,
  stepMemory,
  type StepMemory,
} from './memory';

test('stepMemory counts the forward values the backward reads, the largest activation, constants and state', () => {
  const node = (name: string, op: string, inputs: string[], outputs: string[]) => ({
    name,
    op,
    domain: '',
    inputs,
    outputs,
    attrs: {},
  });
  const g: Graph = {
    name: 'g',
    nodes: [
      node('mul', 'Mul', ['x', 'w'], ['h']), // h [4, 8] read by the backward: kept
      node('relu', 'Relu', ['h'], ['r']), // r [4, 8] read only by the next forward node
      node('sum', 'ReduceSum', ['r'], ['loss']),
      node('grad', 'Mul', ['h', 'dloss'], ['dh']), // the backward
    ],
    inputs: [],
    outputs: [],
    initializers: new Map([['c', tensor('float32', [10])]]),
  };
  const shapes = new Map([
    ['h', { dtype: 'float32' as const, dims: [4, 8] }],
    ['r', { dtype: 'float64' as const, dims: [4, 8] }],
    ['loss', { dtype: 'float32' as const, dims: [] }],
  ]);
  const m = stepMemory(g, 3, 'x', shapes, new Map([['w', tensor('float32', [4, 8])]]));
  assert.deepEqual(m, { savedBytes: 128, largestBytes: 256, constantBytes: 40, stateBytes: 512 });
});

async function compiled(name: string, options: MethodOptions, batch: number): Promise<TrainProgram> {
  const method = getMethod(name);
  const p = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const mp = await method.prepare({ backbone: p, options, seed: 0, batch });
  return compileTrainProgram(p.model, mp.program, {
    batch,
    numClasses: 3,
    clipNorm: method.defaults.clipNorm,
    update: mp.update,
  });
}

test('on real programs the kept activations follow the batch and the method', async () => {
  const [full4, full8, bitfit8, pace8, fast8] = (
    await Promise.all([
      compiled('full', {}, 4),
      compiled('full', {}, 8),
      compiled('bitfit', {}, 8),
      compiled('pace', {}, 8),
      compiled('pace', { fast: true }, 8),
    ])
  ).map((p) => p.memory);
  // activations scale with the batch; the weights and their optimiser state do not
  assert.ok(Math.abs(full8.savedBytes / full4.savedBytes - 2) < 0.05, `${full8.savedBytes} vs ${full4.savedBytes}`);
  assert.equal(full8.largestBytes, 2 * full4.largestBytes);
  assert.equal(full8.stateBytes, full4.stateBytes);
  // BitFit trains no weight, so its backward needs no layer input: it keeps less than full fine-tuning
  assert.ok(bitfit8.savedBytes < full8.savedBytes && bitfit8.savedBytes > 0);
  assert.ok(bitfit8.stateBytes < full8.stateBytes / 10);
  // PACE's two noisy passes run the batch twice (one pass over 16 rows): nearly twice what PACE-fast's one pass
  // keeps (the adapted weights its backward reads are kept once)
  const twice = pace8.savedBytes / fast8.savedBytes;
  assert.ok(twice > 1.8 && twice < 2, `${pace8.savedBytes} vs ${fast8.savedBytes}`);
  // the estimate grows with the batch and with a diagnostics session, and stays above what the step keeps
  assert.ok(estimatePeakBytes(full8) > estimatePeakBytes(full4));
  assert.ok(estimatePeakBytes(fast8, 1) > estimatePeakBytes(fast8));
  assert.ok(estimatePeakBytes(full8) > full8.savedBytes + full8.stateBytes);
  assert.ok(Math.abs(estimateAtBatch(full8, 8, 4) - estimatePeakBytes(full4)) < 0.02 * estimatePeakBytes(full4));
});

test("onnxruntime builds each of PACE's per-sample weights right before its product, not all at the start", async () => {
  const p = await compiled('pace', { fast: true }, 4);
  const g = p.model.graph;
  const noisy = downstreamOf(
    g.nodes,
    p.extraInputs.map((e) => e.name),
  );
  const prod = producers(g);
  const products = g.nodes.filter((n) => n.op === 'MatMul' && noisy.has(n.inputs[1]) && prod.has(n.inputs[0]));
  assert.ok(products.length >= 4, 'the noisy layers of the second block');
  // one profiled step: onnxruntime's own execution order
  const dir = mkdtempSync(join(tmpdir(), 'attune-order-'));
  const session = await ort.InferenceSession.create(encodeModel(p.model), {
    ...ortOptions('cpu'),
    enableProfiling: true,
    profileFilePrefix: join(dir, 'step'),
  });
  const state = TrainingState.fresh(p);
  const labels = [0, 1, 2, 0];
  const { targets, invWeight } = buildTargets(labels, [1, 1, 1, 1], 3, 0);
  const feeds: Record<string, Tensor> = {
    [p.imageInput]: tensor('float32', [4, 3, 32, 32]),
    [TARGETS]: tensor('float32', [4, 3], targets),
    [INV_WEIGHT]: tensor('float32', [], [invWeight]),
    [LR]: tensor('float32', [], [1e-3]),
    [BC1]: tensor('float32', [], [0.1]),
    [BC2]: tensor('float32', [], [0.001]),
  };
  for (const e of p.extraInputs)
    feeds[e.name] = e.fill
      ? e.fill({ epoch: 0, step: 1, seed: 0, batchFiles: labels.map((_, i) => `image-${i}`), count: 4 })
      : e.neutral();
  state.feeds(feeds);
  await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
  (session as unknown as { endProfiling(): void }).endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; ts: number }[];
  const order = events
    .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
    .sort((a, b) => a.ts - b.ts)
    .map((e) => e.name.slice(0, -'_kernel_time'.length));
  const at = (name: string) => order.indexOf(name);
  for (const mm of products) {
    const build = prod.get(mm.inputs[1])!;
    const data = prod.get(mm.inputs[0])!;
    // names survive onnxruntime's optimisers for these nodes; a node it fused away is not checked
    if (at(build.name) < 0 || at(data.name) < 0 || at(mm.name) < 0) continue;
    assert.ok(at(data.name) < at(build.name) && at(build.name) < at(mm.name), `${mm.name}: built after its input`);
  }
  assert.ok(
    products.some((mm) => at(prod.get(mm.inputs[1])!.name) >= 0 && at(mm.name) >= 0),
    'some were checked',
  );
});

test('the advice says the estimate, and when it does not fit with a margin for its error, the largest halved batch that does', () => {
  const GB = 2 ** 30;
  const m: StepMemory = { savedBytes: 8 * GB, largestBytes: 0.1 * GB, constantBytes: 0, stateBytes: 0 };
  const need = estimatePeakBytes(m);

  const ok = memoryAdvice(m, 32, need * ESTIMATE_MARGIN);
  assert.equal(ok.enough, true);
  assert.equal(memoryAdvice(m, 32, need).enough, false, 'no room for the estimate to be low');
  assert.equal(ok.fitsBatch, null);
  assert.match(ok.message, /needs about \d+\.\d GB at batch 32/);

  const tight = memoryAdvice(m, 32, need / 3);
  assert.equal(tight.enough, false);
  assert.ok(tight.fitsBatch !== null && tight.fitsBatch < 32);
  const fits = (b: number) => estimateAtBatch(m, 32, b) * ESTIMATE_MARGIN <= need / 3;
  assert.ok(fits(tight.fitsBatch), 'the proposed batch fits');
  assert.ok(!fits(tight.fitsBatch * 2), 'and is the largest halving that does');
  assert.match(tight.message, new RegExp(`GB is available now.*--batch ${tight.fitsBatch}\\b`));

  const none = memoryAdvice(m, 32, 0.1 * GB);
  assert.equal(none.fitsBatch, null);
  assert.match(none.message, /Even batch 1 would need more: choose a lighter method/);
});
