/**
 * Whether a local sweep's trials fit in memory side by side: each trial's run checks its own estimate against the
 * memory free when it starts, while its siblings may not have allocated theirs yet. So before `--parallel N` starts
 * anything, the N largest estimates (the run's own count, run/memory-estimate.ts) are added up and compared with
 * what is free, with the run's margin; if they do not fit, the sweep says which `--parallel` would, and goes on.
 */
import { freemem } from 'node:os';
import type { EventSink } from '../events';
import { getMethod } from '../methods/registry';
import { ESTIMATE_MARGIN, gb } from '../programs/memory';
import { loadSplit, splitItems } from '../data/split';
import { readRasterHeader } from '../data/geotiff/read';
import { parseBandSelection } from '../data/bands';
import { estimateRunMemory } from '../run/memory-estimate';
import { splitFileFor, trainRequest } from './job';
import { hyperFrom } from '../run/setup';
import type { Sweep } from './sweep';

export interface ParallelAdvice {
  /** the `parallel` largest estimates, added up */
  neededBytes: number;
  enough: boolean;
  /** when not: the most trials side by side whose largest estimates fit, or null when not even one does */
  fitsParallel: number | null;
  message: string;
}

/** `perTrial`: every trial's estimate in bytes. */
export function parallelAdvice(perTrial: number[], parallel: number, freeBytes: number): ParallelAdvice {
  const largest = [...perTrial].sort((a, b) => b - a);
  const need = (p: number) => largest.slice(0, p).reduce((a, b) => a + b, 0);
  const p = Math.min(parallel, largest.length);
  const neededBytes = need(p);
  if (neededBytes * ESTIMATE_MARGIN <= freeBytes)
    return {
      neededBytes,
      enough: true,
      fitsParallel: null,
      message: `Memory: ${p} trials side by side need about ${gb(neededBytes)} at most (estimated from their training programs; ${gb(freeBytes)} free).`,
    };
  let fitsParallel: number | null = null;
  for (let q = p - 1; q >= 1; q--)
    if (need(q) * ESTIMATE_MARGIN <= freeBytes) {
      fitsParallel = q;
      break;
    }
  const what = `Memory: ${p} trials side by side may need about ${gb(neededBytes)} (an estimate, within about 25 %), and ${gb(freeBytes)} is free now, so the system may stop some of them or slow everything down.`;
  const fix =
    fitsParallel !== null
      ? ` --parallel ${fitsParallel} would need about ${gb(need(fitsParallel))}: stop the sweep (Ctrl-C; running the same command again resumes it) and run it with --parallel ${fitsParallel}.`
      : ' Even one trial at a time may not fit: use a smaller batch, a lighter method or a smaller backbone.';
  return { neededBytes, enough: false, fitsParallel, message: what + fix };
}

/**
 * Every trial's estimate (trials of one configuration share it; the program is compiled once per method and
 * options), or null when the trials will not run on the CPU or train on cached features only.
 */
export async function trialEstimates(sweep: Sweep, trials: Sweep['trials']): Promise<number[] | null> {
  const split = await loadSplit(splitFileFor(sweep.dir, 0, sweep.folds));
  const numClasses = split.classes.length;
  // all bands widen the first convolution by the images' band count, which the sweep does not keep: the first
  // training image's header says it (each run checks that every image has the same, and says so if not)
  const first = splitItems(split, sweep.spec.data, 'train')[0];
  const bandCount =
    sweep.spec.bands !== undefined && parseBandSelection(sweep.spec.bands).mode === 'all' && first
      ? await readRasterHeader(first.file).then(
          (h) => h.bands,
          () => undefined,
        )
      : undefined;
  const out: (number | null)[] = [];
  // one after another: the first trial of each method and options compiles its program, the others reuse the count
  for (const t of trials) {
    const c = sweep.configs.find((k) => k.id === t.config)!;
    const r = trainRequest(sweep.dir, sweep.spec, c, t, sweep.folds);
    const e = await estimateRunMemory({
      modelPath: r.model,
      method: r.method,
      options: r.methodOptions,
      batchSize: hyperFrom(r, getMethod(r.method)).batch,
      numClasses,
      provider: r.provider,
      ...(bandCount ? { bands: 'all', bandCount } : {}),
      hyper: { optimizer: r.optimizer, spdLambda: r.spdLambda, weightDecay: r.weightDecay, clipNorm: r.clipNorm },
    });
    out.push(e.notice?.estimatedBytes ?? null);
  }
  return out.every((b) => b === null) ? null : out.map((b) => b ?? 0);
}

/** Before `parallel` trials start side by side: whether their estimates fit together (a log line either way). */
export async function checkParallelMemory(
  sweep: Sweep,
  trials: Sweep['trials'],
  parallel: number,
  emit: EventSink,
): Promise<void> {
  if (parallel < 2 || trials.length < 2) return;
  const estimates = await trialEstimates(sweep, trials);
  if (!estimates) return;
  const advice = parallelAdvice(estimates, parallel, freemem());
  emit({ type: 'log', level: advice.enough ? 'info' : 'warn', message: advice.message });
}
