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
  /** 95 % t-interval of the mean: mean ± t(0.975, n−1)·sd/√n */
  ci95: [number, number] | null;
}

export function summarizeValues(xs: number[]): Summary {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2) return { n, mean, sd: null, ci95: null };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = jstat.jStat.studentt.inv(0.975, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ci95: [mean - half, mean + half] };
}

export interface PairedDifference extends Summary {
  /** the interval excludes 0: the gap is unlikely to be noise at the 5 % level */
  significant: boolean;
}

/** Differences a[k] − b[k] over the keys both have (e.g. `seed/fold`). */
export function pairedDifference(a: Map<string, number>, b: Map<string, number>): PairedDifference {
  const d = [...a].filter(([k]) => b.has(k)).map(([k, v]) => v - b.get(k)!);
  const s = summarizeValues(d);
  return { ...s, significant: s.ci95 !== null && (s.ci95[0] > 0 || s.ci95[1] < 0) };
}
