/**
 * results.json and results.md of a sweep: per configuration the test accuracy's mean ± sd and 95 % interval over
 * its seeds × folds, and its paired difference against the best configuration on the same seeds and folds.
 * Trials that did not finish are counted and listed, never silently dropped.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/fs';
import { PROPORTION, pairedDifference, summarizeValues, type PairedDifference, type Summary } from './stats';
import { sweepStatus, type TrialStatus } from './status';
import type { Sweep } from './sweep';

export interface ConfigResult {
  config: string;
  /** the method entry it belongs to */
  group: string;
  method: string;
  trials: number;
  done: number;
  testAccuracy: Summary;
  valAccuracy: Summary;
  /** this configuration minus the best one, paired on seed/fold (absent for the best itself) */
  vsBest?: PairedDifference;
}

export interface SweepResults {
  sweep: string;
  metric: 'test accuracy';
  interval: string;
  best?: string;
  configs: ConfigResult[];
  /** per method entry with several configs: the one with the best mean validation accuracy (the papers' selection) */
  selectedOnValidation: { group: string; config: string; valAccuracy: number; testAccuracy: Summary }[];
  missing: { trial: string; state: string; error?: string }[];
  trials: number;
}

const key = (s: TrialStatus) => `s${s.trial.seed}/f${s.trial.fold}`;

export function computeResults(
  sweep: Sweep,
  statuses: TrialStatus[] = sweepStatus(sweep.dir, sweep.trials),
): SweepResults {
  const perConfig = new Map<string, TrialStatus[]>();
  for (const s of statuses) perConfig.set(s.trial.config, [...(perConfig.get(s.trial.config) ?? []), s]);
  const acc = (xs: TrialStatus[]) =>
    new Map(xs.filter((s) => s.state === 'done' && s.testAccuracy !== undefined).map((s) => [key(s), s.testAccuracy!]));
  const configs: ConfigResult[] = sweep.configs.map((c) => {
    const xs = perConfig.get(c.id) ?? [];
    const done = xs.filter((s) => s.state === 'done');
    return {
      config: c.id,
      group: c.group ?? c.method,
      method: c.method,
      trials: xs.length,
      done: done.length,
      testAccuracy: summarizeValues([...acc(xs).values()], PROPORTION),
      valAccuracy: summarizeValues(
        done.flatMap((s) => (s.bestValAccuracy !== undefined ? [s.bestValAccuracy] : [])),
        PROPORTION,
      ),
    };
  });
  const ranked = configs.filter((c) => c.testAccuracy.n > 0).sort((a, b) => b.testAccuracy.mean - a.testAccuracy.mean);
  const best = ranked[0]?.config;
  if (best) {
    const bestAcc = acc(perConfig.get(best)!);
    for (const c of configs)
      if (c.config !== best && c.testAccuracy.n > 0)
        c.vsBest = pairedDifference(acc(perConfig.get(c.config)!), bestAcc);
  }
  const groups = [...new Set(configs.map((c) => c.group))];
  const selectedOnValidation = groups.flatMap((g) => {
    const cs = configs.filter((c) => c.group === g && c.valAccuracy.n > 0);
    if (configs.filter((c) => c.group === g).length < 2 || !cs.length) return [];
    const sel = cs.reduce((a, b) => (b.valAccuracy.mean > a.valAccuracy.mean ? b : a));
    return [{ group: g, config: sel.config, valAccuracy: sel.valAccuracy.mean, testAccuracy: sel.testAccuracy }];
  });
  return {
    sweep: sweep.dir,
    metric: 'test accuracy',
    interval:
      '95 % Student-t interval over seeds × folds; paired differences use the same seeds and folds (paired t-interval)',
    best,
    configs,
    selectedOnValidation,
    missing: statuses
      .filter((s) => s.state !== 'done')
      .map((s) => ({ trial: s.trial.id, state: s.state, ...(s.error ? { error: s.error } : {}) })),
    trials: statuses.length,
  };
}

// (rounding −0.04 to "-0.0" would read as a loss)
const pct = (x: number) => (Math.abs(100 * x) < 0.05 ? 0 : 100 * x).toFixed(1);
const ci = (s: Summary) => (s.ci95 ? `[${pct(s.ci95[0])}, ${pct(s.ci95[1])}]` : '—');

export function resultsMarkdown(r: SweepResults, title = 'Sweep results'): string {
  const rows = [...r.configs].sort(
    (a, b) => (b.testAccuracy.n ? b.testAccuracy.mean : -1) - (a.testAccuracy.n ? a.testAccuracy.mean : -1),
  );
  return [
    `# ${title}`,
    '',
    `Test accuracy % per configuration: mean ± sd and ${r.interval}.`,
    `A difference whose interval excludes 0 is marked *; otherwise the gap to the best may be noise. Intervals are not clipped to 0–100 %: with 2–3 values they are wide (t = 12.7 for 2 values, 4.3 for 3).`,
    '',
    '| configuration | trials done | test acc. % (mean ± sd) | 95 % interval | Δ vs best (paired) | 95 % interval of Δ |',
    '|---|---|---|---|---|---|',
    ...rows.map((c) => {
      const t = c.testAccuracy;
      const d = c.vsBest;
      return `| ${c.config}${c.config === r.best ? ' (best)' : ''} | ${c.done}/${c.trials} | ${t.n ? `${pct(t.mean)} ± ${t.sd === null ? '—' : pct(t.sd)}` : '—'} | ${ci(t)} | ${d ? `${pct(d.mean)}${d.significant ? ' *' : ''} (n = ${d.n})` : c.config === r.best ? '0' : '—'} | ${d ? ci(d) : '—'} |`;
    }),
    '',
    ...(r.selectedOnValidation.length
      ? [
          'Selected on validation (per method, the configuration with the best mean validation accuracy; its test accuracy):',
          '',
          ...r.selectedOnValidation.map(
            (s) =>
              `- ${s.group}: ${s.config} — val ${pct(s.valAccuracy)}, test ${pct(s.testAccuracy.mean)} ${ci(s.testAccuracy)}`,
          ),
          '',
        ]
      : []),
    r.missing.length
      ? `**${r.missing.length} of ${r.trials} trials are missing** from these figures:`
      : `All ${r.trials} trials finished.`,
    ...r.missing.map((m) => `- ${m.trial}: ${m.state}${m.error ? ` — ${m.error.split('\n')[0]}` : ''}`),
    '',
  ].join('\n');
}

export async function writeResults(sweep: Sweep, statuses?: TrialStatus[]): Promise<SweepResults> {
  const r = computeResults(sweep, statuses);
  await writeJsonAtomic(join(sweep.dir, 'results.json'), r);
  await writeFile(join(sweep.dir, 'results.md'), resultsMarkdown(r));
  return r;
}
