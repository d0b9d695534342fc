/** Batches for the training programs: cached feature rows (linear-probe fast path), shuffling, argmax. */
import { inputChannels } from '../preprocessing';
import type { EngineEvent, EnginePhase } from '../events';
import { FEATURES } from '../backbone/prepare';
import { rngFor, shuffleInPlace } from '../util/random';
import { tensor } from '../ir/tensor';
import { type Session } from '../runtime/session';
import type { BatchLoaderFactory, LoaderBatch } from '../data/loader';
import type { RunContext } from '../run/setup';

export function argmaxRows(logits: Float32Array, n: number, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    out.push(best);
  }
  return out;
}

/** In-memory batches over cached feature rows (linear-probe fast path). */
export async function* featureBatches(
  rows: Float32Array,
  labels: Int32Array,
  files: string[],
  dim: number,
  B: number,
  order: number[],
): AsyncIterable<LoaderBatch> {
  for (let s = 0; s < order.length; s += B) {
    const idx = order.slice(s, s + B);
    const x = new Float32Array(idx.length * dim);
    idx.forEach((r, i) => x.set(rows.subarray(r * dim, (r + 1) * dim), i * dim));
    yield { x, labels: Int32Array.from(idx.map((r) => labels[r])), count: idx.length, files: idx.map((r) => files[r]) };
  }
}

/** Backbone features of every image (no augmentation), for the linear-probe fast path. */
export async function extractFeatures(
  ctx: RunContext,
  session: Session,
  loader: BatchLoaderFactory,
  items: { file: string; label: number }[],
  emit: (e: EngineEvent) => void,
  phase: EnginePhase,
): Promise<{ rows: Float32Array; labels: Int32Array; files: string[] }> {
  const dim = ctx.prepared.featureDim;
  const rows = new Float32Array(items.length * dim);
  const labels = new Int32Array(items.length);
  const files: string[] = [];
  const S = ctx.spec.preprocessing.size;
  let n = 0;
  const input = ctx.prepared.model.graph.inputs[0].name;
  for await (const bt of loader({
    items,
    pre: ctx.spec.preprocessing,
    augment: 'none',
    batchSize: ctx.spec.hyper.batch,
    seed: ctx.spec.seed,
    epoch: 0,
    shuffle: false,
  })) {
    // the feature graph keeps the exported dynamic batch: no padding needed
    const Cin = inputChannels(ctx.spec.preprocessing);
    const out = await session.run(
      { [input]: tensor('float32', [bt.count, Cin, S, S], bt.x.subarray(0, bt.count * Cin * S * S)) },
      [FEATURES],
    );
    rows.set((out[FEATURES].data as Float32Array).subarray(0, bt.count * dim), n * dim);
    labels.set(bt.labels.subarray(0, bt.count), n);
    files.push(...bt.files);
    n += bt.count;
    emit({ type: 'progress', phase, done: n, total: items.length });
  }
  return { rows, labels, files };
}

export function shuffleOrder(n: number, seed: number, epoch: number): number[] {
  return shuffleInPlace([...Array(n).keys()], rngFor(seed, epoch, 0x5eed));
}
