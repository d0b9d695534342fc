/** Batches for the compiled programs: padding to the fixed batch, cached feature rows, predictions. */
import { inputChannels } from '../preprocessing';
import type { EngineEvent } from '../events';
import { FEATURES } from '../backbone/prepare';
import { rngFor, shuffleInPlace } from '../data/rng';
import { tensor, type Tensor } from '../ir/tensor';
import { PROBS, type EvalProgram } from '../programs/compile';
import { type Session } from '../runtime/session';
import { type BatchLoaderFactory, type LoaderBatch } from './batches';
import type { RunContext } from './run-setup';

/** Pads a batch to the compiled batch size; padded rows get weight 0. */
export function padBatch(bt: LoaderBatch, B: number, rowSize: number): { x: Float32Array; labels: Int32Array; weights: Float32Array } {
  const x = bt.x.length === B * rowSize ? bt.x : new Float32Array(B * rowSize);
  if (x !== bt.x) x.set(bt.x.subarray(0, bt.count * rowSize));
  const labels = new Int32Array(B);
  labels.set(bt.labels.subarray(0, bt.count));
  const weights = new Float32Array(B);
  weights.fill(1, 0, bt.count);
  return { x, labels, weights };
}

export function argmaxRows(logits: Float32Array, n: number, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Runs the eval program over batches; returns probabilities [n, C] in order. */
export async function predictBatches(session: Session, program: EvalProgram, params: Map<string, Tensor>, batches: AsyncIterable<LoaderBatch>, rowDims: number[], C: number): Promise<{ probs: Float32Array; labels: number[]; files: string[] }> {
  const rowSize = rowDims.reduce((a, b) => a * b, 1);
  const probs: number[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for await (const bt of batches) {
    const { x } = padBatch(bt, program.batch, rowSize);
    const feeds: Record<string, Tensor> = { [program.imageInput]: tensor('float32', [program.batch, ...rowDims], x) };
    for (const k of program.trainable) feeds[k] = params.get(k)!;
    const out = await session.run(feeds, [PROBS]);
    const p = out[PROBS].data as Float32Array;
    for (let i = 0; i < bt.count * C; i++) probs.push(p[i]);
    labels.push(...bt.labels.subarray(0, bt.count));
    files.push(...bt.files.slice(0, bt.count));
  }
  return { probs: Float32Array.from(probs), labels, files };
}

/** In-memory batches over cached feature rows (linear-probe fast path). */
export async function* featureBatches(rows: Float32Array, labels: Int32Array, files: string[], dim: number, B: number, order: number[]): AsyncIterable<LoaderBatch> {
  for (let s = 0; s < order.length; s += B) {
    const idx = order.slice(s, s + B);
    const x = new Float32Array(idx.length * dim);
    idx.forEach((r, i) => x.set(rows.subarray(r * dim, (r + 1) * dim), i * dim));
    yield { x, labels: Int32Array.from(idx.map((r) => labels[r])), count: idx.length, files: idx.map((r) => files[r]) };
  }
}

/** Backbone features of every image (no augmentation), for the linear-probe fast path. */
export async function extractFeatures(ctx: RunContext, session: Session, loader: BatchLoaderFactory, items: { file: string; label: number }[], emit: (e: EngineEvent) => void, phase: string): Promise<{ rows: Float32Array; labels: Int32Array; files: string[] }> {
  const dim = ctx.prepared.featureDim;
  const rows = new Float32Array(items.length * dim);
  const labels = new Int32Array(items.length);
  const files: string[] = [];
  const S = ctx.spec.preprocessing.size;
  let n = 0;
  const input = ctx.prepared.model.graph.inputs[0].name;
  for await (const bt of loader({ items, pre: ctx.spec.preprocessing, augment: 'none', batchSize: ctx.spec.hyper.batch, seed: ctx.spec.seed, epoch: 0, shuffle: false })) {
    // the feature graph keeps the exported dynamic batch: no padding needed
    const Cin = inputChannels(ctx.spec.preprocessing);
    const out = await session.run({ [input]: tensor('float32', [bt.count, Cin, S, S], bt.x.subarray(0, bt.count * Cin * S * S)) }, [FEATURES]);
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

