/**
 * Batches for training and evaluation: files → normalised [n,3,S,S] float tensors, prefetched
 * ahead of the consumer so the device stays fed. Decoding runs in sharp (libuv threads), decoded
 * images are cached within a memory budget, and augmentation is drawn from a PRNG keyed by
 * (seed, epoch, item index, view): the same batch comes out whatever the concurrency or timing.
 * A file that fails to decode is left out of its batch and reported, never fatal.
 */
import os from 'node:os';
import { isAttuneError } from '../errors';
import type { EventSink } from '../events';
import { inputChannels, type Preprocessing } from '../preprocessing';
import { augmentToTensor, normaliseAugment, type AugmentOptions, type AugmentPreset } from './augment';
import { describeDecodeError } from './decode';
import type { PixelImage } from './pixels';
import { decodeBaseRgb, decodeEvalRgb, rgbToTensor } from './image';
import { DecodedImageCache, sharedImageCache } from './image-cache';
import { rngFor, shuffleInPlace } from '../util/random';

export interface LoaderItem {
  /** absolute path (or relative to the working directory) */
  file: string;
  /** class index */
  label: number;
}

export interface LoaderProblem {
  file: string;
  kind: string;
  message: string;
}

export interface BatchLoaderOptions {
  items: readonly LoaderItem[];
  pre: Preprocessing;
  augment: AugmentPreset | AugmentOptions;
  batchSize: number;
  seed: number;
  epoch: number;
  shuffle: boolean;
  /** drop a last batch smaller than batchSize (default false) */
  dropLast?: boolean;
  /** budget of the decoded-image cache (default 1 GiB); ignored when `cache` is given */
  cacheBytes?: number;
  /** a cache to share between loaders (e.g. across epochs); `false` disables caching */
  cache?: DecodedImageCache | false;
  /** decodes in flight (default 2 × cores, at least 4) */
  concurrency?: number;
  /** batches prepared ahead of the consumer (default 2) */
  prefetch?: number;
  /** 2: each image also yields a second, independently augmented view in `x2` (for GPS) */
  views?: 1 | 2;
  onProblem?: (p: LoaderProblem) => void;
  onEvent?: EventSink;
}

export interface Batch {
  /** [count, C, S, S]: C = 3, or the band count for multispectral 'all' mode */
  x: Float32Array;
  /** the second view, when views = 2 */
  x2?: Float32Array;
  labels: Int32Array;
  count: number;
  files: string[];
  /** batch number within the epoch */
  index: number;
}

export interface BatchLoader extends AsyncIterable<Batch> {
  /** batches in this epoch (before any bad files are left out) */
  readonly batches: number;
  /** files left out so far in this loader, with why */
  readonly problems: readonly LoaderProblem[];
}

/** Files known to be bad, so later epochs do not retry them. */
const knownBad = new Map<string, LoaderProblem>();

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

function cacheKey(kind: 'eval' | 'base', pre: Preprocessing, file: string): string {
  const fill = pre.resize === 'pad' ? pre.mean.join(',') : '';
  return `${kind}|${pre.size}|${pre.resize}|${pre.resizeTo}|${JSON.stringify(pre.values)}|${fill}|${file}`;
}

/** The decoded image a view is made from: the final eval crop, or the base for augmentation. */
export function decodeFor(
  file: string,
  pre: Preprocessing,
  augmented: boolean,
  cache: DecodedImageCache | false,
): Promise<PixelImage> {
  const load = () => (augmented ? decodeBaseRgb(file, pre) : decodeEvalRgb(file, pre));
  return cache ? cache.get(cacheKey(augmented ? 'base' : 'eval', pre, file), load) : load();
}

/**
 * `views` independently augmented tensors of one image (GPS and other two-view methods).
 * `rng` (or seed) drives all views in sequence.
 */
export async function loadImageViews(
  file: string,
  pre: Preprocessing,
  opts: {
    augment: AugmentPreset | AugmentOptions;
    rng: () => number;
    views?: number;
    cache?: DecodedImageCache | false;
  },
): Promise<Float32Array[]> {
  const aug = normaliseAugment(opts.augment);
  const augmented = aug.preset !== 'none';
  const img = await decodeFor(file, pre, augmented, opts.cache ?? false);
  return Array.from({ length: opts.views ?? 2 }, () =>
    augmented ? augmentToTensor(img, pre, aug, opts.rng) : rgbToTensor(img, pre),
  );
}

export function createBatchLoader(opts: BatchLoaderOptions): BatchLoader {
  const { items, pre, batchSize } = opts;
  if (!(batchSize >= 1)) throw new RangeError('batchSize must be ≥ 1');
  const aug = normaliseAugment(opts.augment);
  const augmented = aug.preset !== 'none';
  const views = opts.views ?? 1;
  const cache = opts.cache === false ? false : (opts.cache ?? sharedImageCache(opts.cacheBytes));
  const sem = new Semaphore(opts.concurrency ?? Math.max(4, 2 * (os.availableParallelism?.() ?? os.cpus().length)));
  const prefetch = Math.max(1, opts.prefetch ?? 2);
  const order = items.map((_, i) => i);
  if (opts.shuffle) shuffleInPlace(order, rngFor(opts.seed, opts.epoch, 0x5eed));
  const nBatches = opts.dropLast ? Math.floor(order.length / batchSize) : Math.ceil(order.length / batchSize);
  const problems: LoaderProblem[] = [];
  const S = pre.size;
  const per = inputChannels(pre) * S * S;

  const report = (p: LoaderProblem) => {
    problems.push(p);
    opts.onProblem?.(p);
    opts.onEvent?.({ type: 'log', level: 'warn', message: `left out ${p.file}: ${p.message}` });
  };

  async function makeBatch(b: number): Promise<Batch> {
    const idx = order.slice(b * batchSize, (b + 1) * batchSize);
    const x = new Float32Array(idx.length * per);
    const x2 = views === 2 ? new Float32Array(idx.length * per) : undefined;
    const ok = await Promise.all(
      idx.map(async (itemIndex, slot) => {
        const item = items[itemIndex];
        const bad = knownBad.get(item.file);
        if (bad) {
          report(bad);
          return false;
        }
        try {
          const img = await sem.run(() => decodeFor(item.file, pre, augmented, cache));
          for (let v = 0; v < views; v++) {
            const dst = v === 0 ? x : x2!;
            if (augmented) augmentToTensor(img, pre, aug, rngFor(opts.seed, opts.epoch, itemIndex, v), dst, slot * per);
            else rgbToTensor(img, pre, dst, slot * per);
          }
          return true;
        } catch (err) {
          const e = isAttuneError(err) ? err : describeDecodeError(item.file, err);
          const p = { file: item.file, kind: e.code, message: e.message };
          knownBad.set(item.file, p);
          report(p);
          return false;
        }
      }),
    );
    // compact: bad files leave holes
    let n = 0;
    const files: string[] = [];
    const labels: number[] = [];
    for (let slot = 0; slot < idx.length; slot++) {
      if (!ok[slot]) continue;
      if (n !== slot) {
        x.copyWithin(n * per, slot * per, (slot + 1) * per);
        x2?.copyWithin(n * per, slot * per, (slot + 1) * per);
      }
      files.push(items[idx[slot]].file);
      labels.push(items[idx[slot]].label);
      n++;
    }
    return {
      x: n === idx.length ? x : x.subarray(0, n * per),
      ...(x2 ? { x2: n === idx.length ? x2 : x2.subarray(0, n * per) } : {}),
      labels: Int32Array.from(labels),
      count: n,
      files,
      index: b,
    };
  }

  return {
    batches: nBatches,
    problems,
    async *[Symbol.asyncIterator]() {
      const ahead: Promise<Batch>[] = [];
      let next = 0;
      const fill = () => {
        while (next < nBatches && ahead.length < prefetch + 1) {
          const p = makeBatch(next++);
          p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection if the consumer stops early
          ahead.push(p);
        }
      };
      fill();
      while (ahead.length > 0) {
        const batch = await ahead.shift()!;
        fill();
        if (batch.count > 0) yield batch;
      }
    },
  };
}

/** The trainer's view of a batch. */
export type LoaderBatch = Pick<Batch, 'x' | 'x2' | 'labels' | 'count' | 'files'>;

/** What the trainer asks of the data pipeline; the loader reports bad files itself through `onEvent`. */
export type LoaderOptions = Pick<
  BatchLoaderOptions,
  'items' | 'pre' | 'augment' | 'batchSize' | 'seed' | 'epoch' | 'shuffle' | 'views' | 'onEvent'
>;

export type BatchLoaderFactory = (o: LoaderOptions) => AsyncIterable<LoaderBatch>;

/** Prefetching, cached loader; files that fail to decode are left out and reported once, as warnings. */
export const defaultLoader: BatchLoaderFactory = (o) => createBatchLoader(o);
