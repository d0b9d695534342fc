/** The trainer's view of the data pipeline: batches of normalised images with labels (engine/data/loader). */
import type { Preprocessing } from '../preprocessing';
import type { AugmentPreset } from '../data/augment';
import { createBatchLoader, type Batch } from '../data/loader';
import type { EventSink } from '../events';

export type LoaderBatch = Pick<Batch, 'x' | 'x2' | 'labels' | 'count' | 'files'>;

export interface LoaderOptions {
  items: { file: string; label: number }[];
  pre: Preprocessing;
  augment: AugmentPreset;
  batchSize: number;
  seed: number;
  epoch: number;
  shuffle: boolean;
  /** 2: a second independently augmented view per image in `x2` (GPS selection) */
  views?: 1 | 2;
  onEvent?: EventSink;
}

export type BatchLoaderFactory = (o: LoaderOptions) => AsyncIterable<LoaderBatch>;

/** Prefetching, cached loader; files that fail to decode are left out and reported as warnings. */
export const defaultLoader: BatchLoaderFactory = (o) =>
  createBatchLoader({
    ...o,
    onProblem: (p) => o.onEvent?.({ type: 'log', level: 'warn', message: `Left out ${p.file}: ${p.message}` }),
  });
