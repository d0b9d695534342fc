/// <reference path="./jstat.d.ts" />
/**
 * Summary statistics for a sweep: mean ± sd with a two-sided 95 % Student-t interval over seeds/folds, and
 * paired differences (same seed and fold) with a paired t-interval, so a gap between configurations can be
 * told from noise. With one value there is no interval (null).
 */
import jstat from 'jstat';

export interface Summary {
  n: number;
  mean: number;
  sd: number | null;
  /** 95 % t-interval of the mean: mean ± t(0.975, n−1)·sd/√n, cut at the quantity's range where one is given */
  ci95: [number, number] | null;
}

/** Accuracies and other proportions: a symmetric t-interval of few values can pass 0 % or 100 %, they cannot. */
export const PROPORTION: [number, number] = [0, 1];

export function summarizeValues(xs: number[], range?: [number, number]): Summary {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2) return { n, mean, sd: null, ci95: null };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = jstat.jStat.studentt.inv(0.975, n - 1) * (sd / Math.sqrt(n));
  const [lo, hi] = range ?? [-Infinity, Infinity];
  return { n, mean, sd, ci95: [Math.max(lo, mean - half), Math.min(hi, mean + half)] };
}

export interface PairedDifference extends Summary {
  /** the interval excludes 0: the gap is unlikely to be noise at the 5 % level */
  significant: boolean;
}

/** Differences a[k] − b[k] over the keys both have (e.g. `seed/fold`). */
export function pairedDifference(a: Map<string, number>, b: Map<string, number>): PairedDifference {
  const d = [...a].filter(([k]) => b.has(k)).map(([k, v]) => v - b.get(k)!);
  // a difference of two proportions lies in [−1, 1]
  const s = summarizeValues(d, [-1, 1]);
  return { ...s, significant: s.ci95 !== null && (s.ci95[0] > 0 || s.ci95[1] < 0) };
}
