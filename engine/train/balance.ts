/**
 * Class imbalance during training: per-class loss weights (n / (C · n_c), so the weighted loss sees every
 * class equally often on average) and class-balanced sampling (each draw picks a class uniformly, then one
 * of its images; with replacement, one epoch = as many draws as training images).
 */
import { rngFor } from '../util/random';

export function classCounts(labels: ArrayLike<number>, C: number): number[] {
  const counts = new Array<number>(C).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** w_c = n / (C · n_c); classes without training images get weight 0. */
export function classWeights(labels: ArrayLike<number>, C: number): number[] {
  const counts = classCounts(labels, C);
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c ? labels.length / (present * c) : 0));
}

/** Indices into `labels` for one epoch of class-balanced sampling; deterministic in (seed, epoch). */
export function balancedOrder(labels: ArrayLike<number>, C: number, seed: number, epoch: number): number[] {
  const byClass: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const present = byClass.filter((g) => g.length);
  const rng = rngFor(seed, epoch, 0xba1a);
  return Array.from({ length: labels.length }, () => {
    const g = present[Math.floor(rng() * present.length)];
    return g[Math.floor(rng() * g.length)];
  });
}
