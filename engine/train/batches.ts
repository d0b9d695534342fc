/** The trainer's view of the data pipeline: batches of normalised images with labels. */
import type { Preprocessing } from '../preprocessing';
import { loadImageTensor, type AugmentPreset } from '../data/image';
import { deriveSeed, mulberry32, shuffled } from '../util/random';

export interface LoaderBatch {
  x: Float32Array;
  labels: Int32Array;
  count: number;
  files: string[];
}

export interface LoaderOptions {
  items: { file: string; label: number }[];
  pre: Preprocessing;
  augment: AugmentPreset;
  batchSize: number;
  seed: number;
  epoch: number;
  shuffle: boolean;
  /** seed of the augmentation draws when it must differ from the shuffle seed (second GPS view) */
  augmentSeed?: number;
}

export type BatchLoaderFactory = (o: LoaderOptions) => AsyncIterable<LoaderBatch>;

/** Interim loader (until the prefetching pipeline lands): decodes each batch concurrently with sharp. */
export const defaultLoader: BatchLoaderFactory = async function* (o) {
  const rng = mulberry32(deriveSeed(o.seed, o.epoch, 1));
  const order = o.shuffle ? shuffled(o.items, rng) : o.items;
  const S = o.pre.size;
  const per = 3 * S * S;
  for (let start = 0; start < order.length; start += o.batchSize) {
    const chunk = order.slice(start, start + o.batchSize);
    const x = new Float32Array(chunk.length * per);
    const tensors = await Promise.all(chunk.map((it, i) => loadImageTensor(it.file, o.pre, { augment: o.augment, rng: mulberry32(deriveSeed(o.augmentSeed ?? o.seed, o.epoch, start + i, 7)) })));
    tensors.forEach((t, i) => x.set(t, i * per));
    yield { x, labels: Int32Array.from(chunk.map((c) => c.label)), count: chunk.length, files: chunk.map((c) => c.file) };
  }
};
