/**
 * A sweep on one backend, and a sweep folder's status: what `attune sweep` does, reached through the engine façade
 * (engine/api.ts) so the CLI and any other caller share one path. Printing stays with the caller.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import { emitK8sJob, type K8sOptions } from './k8s';
import { runLocal } from './local';
import { runRace, type RaceResult } from './race';
import { writeResults, type SweepResults } from './results';
import { cancelSlurm, slurmAvailable, slurmStatus, submitSlurm, waitSlurm, type SlurmOptions } from './slurm';
import type { SweepSpec } from './spec';
import { sweepStatus, type TrialStatus } from './status';
import { loadSweep, openSweep, type Sweep } from './sweep';

export const SWEEP_BACKENDS = ['local', 'slurm', 'k8s'] as const;

export type SweepBackend =
  /** trials one after another here, or `parallel` side by side with the cores split */
  | { kind: 'local'; parallel?: number }
  /** one job array through sbatch; re-running submits only unfinished or failed trials */
  | { kind: 'slurm'; slurm?: SlurmOptions }
  /** a Kubernetes Indexed Job written to `emit` */
  | { kind: 'k8s'; emit: string; k8s?: K8sOptions };

export type SweepOutcome =
  | { kind: 'race'; race: RaceResult }
  | { kind: 'results'; sweep: Sweep; results: SweepResults }
  | { kind: 'submitted'; sweep: Sweep; jobId?: string; trials: number[] }
  | { kind: 'emitted'; sweep: Sweep; file: string; trials: number };

export interface SweepRunOptions {
  signal?: AbortSignal;
  onEvent?: EventSink;
}

/** Runs (local), submits (Slurm) or writes (Kubernetes) the sweep in `outDir`; a spec with `race` races locally. */
export async function runSweep(
  spec: SweepSpec,
  outDir: string,
  backend: SweepBackend,
  opts: SweepRunOptions = {},
): Promise<SweepOutcome> {
  const local = (sweep: Sweep) =>
    runLocal(sweep, {
      parallel: backend.kind === 'local' ? backend.parallel : undefined,
      signal: opts.signal,
      onEvent: opts.onEvent,
    });
  if (spec.race) {
    if (backend.kind !== 'local')
      throw new AttuneError(
        'usage',
        'The method race runs on the local backend.',
        'Drop --backend, or run a plain sweep on the cluster.',
      );
    return { kind: 'race', race: await runRace(spec, outDir, local, opts) };
  }
  const sweep = await openSweep(spec, outDir, { onEvent: opts.onEvent });
  switch (backend.kind) {
    case 'k8s':
      await emitK8sJob(sweep, backend.emit, backend.k8s);
      return { kind: 'emitted', sweep, file: backend.emit, trials: sweep.trials.length };
    case 'slurm': {
      const sub = await submitSlurm(sweep, backend.slurm);
      return { kind: 'submitted', sweep, jobId: sub.jobId, trials: sub.trials.map((t) => t.index) };
    }
    case 'local':
      return { kind: 'results', sweep, results: await writeResults(sweep, await local(sweep)) };
  }
}

const submittedToSlurm = (sweep: Sweep) => existsSync(join(sweep.dir, 'slurm', 'submissions.jsonl'));

/** Waits until none of a submitted sweep's Slurm tasks is queued, then writes and returns its results. */
export async function waitForSweep(dir: string): Promise<{ sweep: Sweep; results: SweepResults }> {
  const sweep = await loadSweep(dir);
  return { sweep, results: await writeResults(sweep, await waitSlurm(sweep)) };
}

export interface SweepReport {
  sweep: Sweep;
  trials: TrialStatus[];
  /** Slurm job ids cancelled, when asked to cancel */
  cancelled?: string[];
}

/**
 * A sweep folder's trials (Slurm's queue included where the sweep was submitted and Slurm answers), with
 * results.json/results.md rewritten; `cancel` first stops its Slurm jobs (a local sweep stops with Ctrl-C).
 */
export async function sweepReport(dir: string, opts: { cancel?: boolean } = {}): Promise<SweepReport> {
  const sweep = await loadSweep(dir);
  const slurm = submittedToSlurm(sweep);
  if (opts.cancel && !slurm)
    throw new AttuneError(
      'usage',
      `${sweep.dir} was not submitted to Slurm.`,
      'Stop a local sweep with Ctrl-C; it resumes when run again.',
    );
  const cancelled = opts.cancel ? await cancelSlurm(sweep) : undefined;
  const trials = slurm && slurmAvailable() ? await slurmStatus(sweep) : sweepStatus(sweep.dir, sweep.trials);
  await writeResults(sweep, trials);
  return { sweep, trials, ...(cancelled ? { cancelled } : {}) };
}
