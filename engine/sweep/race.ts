/**
 * Method race (successive halving): every candidate configuration trains for a short budget, the best third on
 * validation accuracy go on with a budget three times larger, and so on until one is left, which trains for the
 * full budget; its test accuracy is reported with its 95 % interval over seeds × folds. Each rung is a sweep
 * folder of its own (rungs/r<k>), so a race resumes like any sweep.
 */
import { join } from 'node:path';
import type { EventSink } from '../events';
import { writeJsonAtomic } from '../util/fs';
import { expandConfigs } from './grid';
import { computeResults, writeResults, type ConfigResult } from './results';
import type { SweepSpec } from './spec';
import { PROPORTION, summarizeValues, type Summary } from './stats';
import type { TrialStatus } from './status';
import { openSweep, type Sweep } from './sweep';

export interface RaceRung {
  rung: number;
  epochs: number;
  candidates: { config: string; valAccuracy: Summary; failed: number; kept: boolean }[];
}

export interface RaceResult {
  budgetEpochs: number;
  keep: number;
  rungs: RaceRung[];
  winner?: string;
  /** the winner trained for the full budget: test accuracy with its interval */
  result?: ConfigResult;
  selection: string;
}

export async function runRace(
  spec: SweepSpec,
  dir: string,
  run: (s: Sweep) => Promise<TrialStatus[]>,
  opts: { onEvent?: EventSink; signal?: AbortSignal } = {},
): Promise<RaceResult> {
  const emit = opts.onEvent ?? (() => {});
  const budget = spec.epochs ?? 9;
  const keep = spec.race?.keep ?? 1 / 3;
  let candidates = expandConfigs(spec).map((c) => c.id);
  const eliminations = candidates.length > 1 ? Math.ceil(Math.log(candidates.length) / Math.log(1 / keep) - 1e-9) : 0;
  const out: RaceResult = {
    budgetEpochs: budget,
    keep,
    rungs: [],
    selection: 'mean best validation accuracy over seeds × folds; failed trials count as 0',
  };
  for (let r = 0; !opts.signal?.aborted; r++) {
    const final = candidates.length === 1;
    const epochs = final ? budget : Math.max(1, Math.round(budget * keep ** Math.max(0, eliminations - r)));
    emit({
      type: 'log',
      level: 'info',
      message: `race rung ${r + 1}: ${candidates.length} candidate(s), ${epochs} epoch(s)`,
    });
    const sweep = await openSweep(spec, join(dir, 'rungs', `r${r}`), { only: candidates, epochs, onEvent: emit });
    const st = await run(sweep);
    await writeResults(sweep, st);
    if (final) {
      out.winner = candidates[0];
      out.result = computeResults(sweep, st).configs[0];
      break;
    }
    const scored = candidates
      .map((c) => {
        const xs = st.filter((s) => s.trial.config === c);
        const vals = xs.map((s) => (s.state === 'done' ? (s.bestValAccuracy ?? 0) : 0));
        return {
          config: c,
          valAccuracy: summarizeValues(vals, PROPORTION),
          failed: xs.filter((s) => s.state !== 'done').length,
          kept: false,
        };
      })
      .sort((a, b) => b.valAccuracy.mean - a.valAccuracy.mean);
    const n = Math.max(1, Math.ceil(candidates.length * keep - 1e-9));
    scored.slice(0, n).forEach((s) => (s.kept = true));
    out.rungs.push({ rung: r, epochs, candidates: scored });
    candidates = scored.slice(0, n).map((s) => s.config);
  }
  await writeJsonAtomic(join(dir, 'race.json'), out);
  return out;
}
