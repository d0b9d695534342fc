/**
 * The local backend: runs the sweep's job scripts on this machine, one after another or N at a time with the
 * cores split between them. Ctrl-C (or an abort) lets running trials save a checkpoint and stop; the same
 * command later resumes them. A trial that fails or is killed is recorded and the others go on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { EventSink } from '../events';
import type { Trial } from './grid';
import { trialDir } from './job';
import { trialStatus, type TrialStatus } from './status';
import type { Sweep } from './sweep';
import { checkParallelMemory } from './memory';

export interface LocalOptions {
  parallel?: number;
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** called with each started job's process (its own process group); tests use it to kill one */
  onStart?: (trial: Trial, child: ChildProcess) => void;
  /** only these trials (default: every trial not done) */
  trials?: Trial[];
}

/** Runs every unfinished trial; resolves with their states once all have ended (or were cancelled). */
export async function runLocal(sweep: Sweep, opts: LocalOptions = {}): Promise<TrialStatus[]> {
  const emit = opts.onEvent ?? (() => {});
  const todo = (opts.trials ?? sweep.trials).filter((t) => trialStatus(sweep.dir, t).state !== 'done');
  const parallel = Math.max(1, Math.min(opts.parallel ?? 1, todo.length || 1));
  const threads = Math.max(1, Math.floor(availableParallelism() / parallel));
  await checkParallelMemory(sweep, todo, parallel, emit);
  const running = new Set<ChildProcess>();
  const onAbort = () => {
    // each job is its own process group: forward the interrupt so `attune train` saves and stops
    for (const c of running)
      if (c.pid)
        try {
          process.kill(-c.pid, 'SIGINT');
        } catch {
          /* already gone */
        }
  };
  opts.signal?.addEventListener('abort', onAbort);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length && !opts.signal?.aborted) {
      const t = todo[next++];
      emit({ type: 'log', level: 'info', message: `trial ${t.index + 1}/${sweep.trials.length} ${t.id}: started` });
      const child = spawn('bash', [join(sweep.dir, 'jobs', `${t.index}.sh`)], {
        detached: true,
        stdio: 'ignore',
        env: { ...process.env, ATTUNE_THREADS: String(threads) },
      });
      running.add(child);
      opts.onStart?.(t, child);
      const code = await new Promise<number>((res) =>
        child.on('exit', (c, sig) =>
          res(c ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 1)),
        ),
      );
      running.delete(child);
      // a job killed with its shell leaves no exit code of its own
      const rcFile = join(trialDir(sweep.dir, t), 'exit-code');
      if (!existsSync(rcFile)) writeFileSync(rcFile, `${code}\n`);
      const st = trialStatus(sweep.dir, t);
      emit({
        type: 'log',
        level: st.state === 'failed' ? 'warn' : 'info',
        message: `trial ${t.id}: ${st.state}${st.testAccuracy !== undefined ? ` (test accuracy ${(100 * st.testAccuracy).toFixed(1)} %)` : ''}${st.error ? ` — ${st.error}` : ''}`,
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return sweep.trials.map((t) => trialStatus(sweep.dir, t));
}
