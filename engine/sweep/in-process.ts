/**
 * Trials run inside this process, one after another, through the same `trainRun` that `attune train` calls: for the
 * app's job worker, which has no shell or CLI beside it. Each trial is the same run folder as with the local backend;
 * an error is written to its train.log and exit-code, so its state reads the same.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAttuneError } from '../errors';
import type { EventSink } from '../events';
import { trainRun } from '../train/trainer';
import { trainRequest, trialDir } from './job';
import { trialStatus, type TrialStatus } from './status';
import type { Sweep } from './sweep';

export async function runInProcess(
  sweep: Sweep,
  opts: { signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<TrialStatus[]> {
  const emit = opts.onEvent ?? (() => {});
  const byId = new Map(sweep.configs.map((c) => [c.id, c]));
  const total = sweep.trials.length;
  let done = 0;
  for (const t of sweep.trials) {
    if (opts.signal?.aborted) break;
    if (trialStatus(sweep.dir, t).state === 'done') {
      done++;
      continue;
    }
    const dir = trialDir(sweep.dir, t);
    await mkdir(dir, { recursive: true });
    emit({ type: 'progress', phase: 'sweep', done, total, detail: t.id });
    try {
      const r = await trainRun(trainRequest(sweep.dir, sweep.spec, byId.get(t.config)!, t, sweep.folds), {
        signal: opts.signal,
        onEvent: (e) => e.type === 'epoch' && emit(e),
      });
      await writeFile(join(dir, 'exit-code'), r.status === 'cancelled' ? '130\n' : '0\n');
    } catch (e) {
      const line = isAttuneError(e)
        ? { type: 'error', code: e.code, message: e.message, hint: e.hint }
        : { type: 'error', code: 'internal', message: String((e as Error).stack ?? e), hint: '' };
      await appendFile(join(dir, 'train.log'), JSON.stringify(line) + '\n');
      await writeFile(join(dir, 'exit-code'), '1\n');
    }
    done++;
    const st = trialStatus(sweep.dir, t);
    emit({
      type: 'log',
      level: st.state === 'failed' ? 'warn' : 'info',
      message: `trial ${t.id}: ${st.state}${st.error ? ` — ${st.error}` : ''}`,
    });
  }
  emit({ type: 'progress', phase: 'sweep', done, total });
  return sweep.trials.map((t) => trialStatus(sweep.dir, t));
}
