/**
 * A trial's state, read from its own files (so every backend reports progress the same way): the run's
 * status.json (written by `attune train`), the job's exit-code file, and the tail of train.log for failures.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Trial } from './grid';
import { trialDir } from './job';

export type TrialState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface TrialStatus {
  trial: Trial;
  state: TrialState;
  testAccuracy?: number;
  bestValAccuracy?: number;
  epochsDone?: number;
  exitCode?: number;
  /** why it failed: the error event's message, or the last lines of its log */
  error?: string;
  logTail?: string;
}

const readJson = (f: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

export function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

const exitMeaning = (rc: number) =>
  rc === 137
    ? 'killed (SIGKILL: out of memory, or stopped by the scheduler)'
    : rc === 143
      ? 'terminated (SIGTERM)'
      : rc > 128
        ? `killed by signal ${rc - 128}`
        : `exit code ${rc}`;

export function trialStatus(sweepDir: string, t: Trial): TrialStatus {
  const dir = trialDir(sweepDir, t);
  const run = readJson(join(dir, 'status.json'));
  const rcText = existsSync(join(dir, 'exit-code')) ? readFileSync(join(dir, 'exit-code'), 'utf8').trim() : undefined;
  const exitCode = rcText ? Number(rcText) : undefined;
  const epochsDone = existsSync(join(dir, 'metrics.jsonl'))
    ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"type":"epoch"')).length
    : undefined;
  if (run?.state === 'done')
    return {
      trial: t,
      state: 'done',
      testAccuracy: run.testAccuracy as number | undefined,
      bestValAccuracy: run.bestValAccuracy as number | undefined,
      epochsDone,
      exitCode,
    };
  if (exitCode === 130 || (run?.state === 'cancelled' && exitCode === undefined))
    return { trial: t, state: 'cancelled', epochsDone, exitCode };
  if (exitCode !== undefined || run?.state === 'failed') {
    const tail = logTail(join(dir, 'train.log'));
    const errLine = tail
      .split('\n')
      .reverse()
      .map((l) => readJsonLine(l))
      .find((e) => e?.type === 'error');
    const error = errLine
      ? `${errLine.message as string} ${errLine.hint as string}`
      : ((run?.error as string | undefined) ?? (exitCode !== undefined ? exitMeaning(exitCode) : 'failed'));
    return {
      trial: t,
      state: 'failed',
      exitCode,
      epochsDone,
      error:
        exitCode !== undefined && exitCode > 128
          ? `${exitMeaning(exitCode)}; ${error === exitMeaning(exitCode) ? 'see the log' : error}`
          : error,
      logTail: tail,
    };
  }
  if (run || existsSync(join(dir, 'train.log'))) return { trial: t, state: 'running', epochsDone };
  return { trial: t, state: 'pending' };
}

function readJsonLine(l: string): Record<string, unknown> | undefined {
  if (!l.startsWith('{')) return undefined;
  try {
    return JSON.parse(l) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export const sweepStatus = (sweepDir: string, trials: Trial[]): TrialStatus[] =>
  trials.map((t) => trialStatus(sweepDir, t));

export function summarize(st: TrialStatus[]): Record<TrialState, number> {
  const out: Record<TrialState, number> = { pending: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const s of st) out[s.state]++;
  return out;
}
