/**
 * 95 % intervals for evaluation figures: Wilson score intervals for proportions (accuracy, recall,
 * precision) and a stratified bootstrap for statistics that are not one proportion (balanced accuracy,
 * macro-F1, AUC). Small test sets give wide intervals; that is the point.
 */
import { mulberry32 } from '../util/random';

/** A figure with how many cases it rests on and its 95 % interval. */
export interface Estimate {
  value: number;
  /** successes (proportions only) */
  k?: number;
  /** cases the figure rests on */
  n: number;
  lower: number;
  upper: number;
  method: 'wilson' | 'bootstrap';
  /** why the interval is the whole range rather than estimated */
  note?: string;
}

/**
 * A class with fewer images than this makes a stratified bootstrap degenerate (one image resampled is always
 * itself: a zero-width interval); such figures get the whole [0, 1] and a note instead of a false precision.
 */
const MIN_PER_CLASS_FOR_BOOTSTRAP = 5;

const Z95 = 1.959963984540054;

/** Wilson score interval for k successes in n trials (n = 0: the whole [0, 1]). */
export function wilson(k: number, n: number, z = Z95): Estimate {
  if (n === 0) return { value: 0, k, n, lower: 0, upper: 1, method: 'wilson' };
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { value: p, k, n, lower: Math.max(0, centre - half), upper: Math.min(1, centre + half), method: 'wilson' };
}

/**
 * Percentile bootstrap, resampling within each class (the test set's class counts are kept, as in the
 * stratified split it came from). `stat` receives the resampled row indices.
 */
export function stratifiedBootstrap(
  labels: ArrayLike<number>,
  stat: (rows: Int32Array) => number,
  opts: { resamples?: number; seed?: number } = {},
): Estimate {
  const n = labels.length;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const value = stat(all);
  const B = opts.resamples ?? 1000;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) byClass.set(labels[i], [...(byClass.get(labels[i]) ?? []), i]);
  const groups = [...byClass.values()];
  const smallest = Math.min(...groups.map((g) => g.length));
  if (B > 0 && smallest < MIN_PER_CLASS_FOR_BOOTSTRAP)
    return {
      value,
      n,
      lower: 0,
      upper: 1,
      method: 'bootstrap',
      note: `a class has only ${smallest} image${smallest === 1 ? '' : 's'}: too few for an interval`,
    };
  const rng = mulberry32(opts.seed ?? 12345);
  const stats: number[] = [];
  const rows = new Int32Array(n);
  for (let b = 0; b < B; b++) {
    let o = 0;
    for (const g of groups) for (let j = 0; j < g.length; j++) rows[o++] = g[Math.floor(rng() * g.length)];
    const s = stat(rows);
    if (Number.isFinite(s)) stats.push(s);
  }
  stats.sort((a, b) => a - b);
  const q = (p: number) =>
    stats.length ? stats[Math.min(stats.length - 1, Math.max(0, Math.floor(p * stats.length)))] : NaN;
  return { value, n, lower: stats.length ? q(0.025) : 0, upper: stats.length ? q(0.975) : 1, method: 'bootstrap' };
}

/** "50.0 % (1/2; 95 % CI 9.5–90.5 %)" — how every figure is printed. */
export function formatEstimate(e: Estimate | undefined, digits = 1): string {
  if (!e) return 'n/a';
  const pct = (x: number) => (x * 100).toFixed(digits);
  const count = e.k !== undefined ? `${e.k}/${e.n}` : `n = ${e.n}`;
  return `${pct(e.value)} % (${count}; 95 % CI ${e.note ? `not estimable, ${e.note}` : `${pct(e.lower)}–${pct(e.upper)} %`})`;
}
