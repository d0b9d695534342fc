/**
 * The Slurm backend: one job array through sbatch whose task i runs jobs/<i>.sh (`attune train` into the trial's run
 * folder) on a shared filesystem. Progress comes from the trials' own files, plus squeue for what is still queued;
 * re-submitting sends only trials that are neither done nor queued.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttuneError } from '../errors';
import type { Trial } from './grid';
import { sweepStatus, type TrialStatus } from './status';
import type { Sweep } from './sweep';

export interface SlurmOptions {
  partition?: string;
  /** GPUs per trial (--gres=gpu:N) */
  gpus?: number;
  cpus?: number;
  /** memory per trial, Slurm syntax (e.g. 8G) */
  mem?: string;
  /** time limit per trial, Slurm syntax (e.g. 2:00:00) */
  time?: string;
  account?: string;
  /** at most this many array tasks at once (--array=…%N) */
  parallel?: number;
}

export const slurmAvailable = (): boolean => spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;

const submissionsFile = (sweep: Sweep) => join(sweep.dir, 'slurm', 'submissions.jsonl');

async function jobIds(sweep: Sweep): Promise<string[]> {
  if (!existsSync(submissionsFile(sweep))) return [];
  return (await readFile(submissionsFile(sweep), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { jobId: string }).jobId);
}

/** Array indexes of this sweep still in the queue, with their Slurm state (PENDING, RUNNING, …). */
export async function queued(sweep: Sweep): Promise<Map<number, string>> {
  const ids = new Set(await jobIds(sweep));
  const out = new Map<number, string>();
  if (!ids.size) return out;
  const r = spawnSync('squeue', ['-h', '-r', '-o', '%F %K %T'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new AttuneError(
      'slurm-unavailable',
      `squeue failed: ${r.stderr.trim()}`,
      'Check that Slurm is running (sinfo).',
    );
  for (const line of r.stdout.split('\n')) {
    const [job, task, state] = line.trim().split(/\s+/);
    if (ids.has(job) && /^\d+$/.test(task ?? '')) out.set(Number(task), state);
  }
  return out;
}

/** Trial states with Slurm's view: queued tasks are pending/running; a "running" trial no longer queued was lost. */
export async function slurmStatus(sweep: Sweep): Promise<TrialStatus[]> {
  const q = await queued(sweep);
  return sweepStatus(sweep.dir, sweep.trials).map((s) => {
    const st = q.get(s.trial.index);
    if (st && s.state !== 'done')
      return { ...s, state: st === 'PENDING' ? 'pending' : 'running', error: undefined, logTail: undefined };
    if (s.state === 'running')
      return {
        ...s,
        state: 'failed',
        error: `no longer in the Slurm queue and unfinished (cancelled, time limit or node failure); see ${join(sweep.dir, 'slurm')}`,
      };
    return s;
  });
}

/** Submits one job array of every trial neither done nor queued; returns the job id (undefined: nothing to do). */
export async function submitSlurm(sweep: Sweep, opts: SlurmOptions = {}): Promise<{ jobId?: string; trials: Trial[] }> {
  if (!slurmAvailable())
    throw new AttuneError(
      'slurm-unavailable',
      'sbatch was not found on this machine.',
      'Run attune sweep --backend slurm on a Slurm login node, or use --backend local.',
    );
  const st = await slurmStatus(sweep);
  const q = await queued(sweep);
  const send = st.filter((s) => s.state !== 'done' && !q.has(s.trial.index)).map((s) => s.trial);
  if (!send.length) return { trials: [] };
  const dir = join(sweep.dir, 'slurm');
  await mkdir(dir, { recursive: true });
  const script = join(dir, 'array.sh');
  await writeFile(
    script,
    [
      '#!/usr/bin/env bash',
      '#SBATCH --job-name=attune-sweep',
      `#SBATCH --output=${join(dir, '%A_%a.out')}`,
      '# each array task runs one trial of the sweep: jobs/<index>.sh runs `attune train` into trials/<id>',
      `exec bash ${JSON.stringify(join(sweep.dir, 'jobs'))}/"$SLURM_ARRAY_TASK_ID".sh`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const args = [
    '--parsable',
    `--array=${send.map((t) => t.index).join(',')}${opts.parallel ? `%${opts.parallel}` : ''}`,
  ];
  if (opts.partition) args.push(`--partition=${opts.partition}`);
  if (opts.gpus) args.push(`--gres=gpu:${opts.gpus}`);
  if (opts.cpus) args.push(`--cpus-per-task=${opts.cpus}`);
  if (opts.mem) args.push(`--mem=${opts.mem}`);
  if (opts.time) args.push(`--time=${opts.time}`);
  if (opts.account) args.push(`--account=${opts.account}`);
  let out: string;
  try {
    out = execFileSync('sbatch', [...args, script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: string }).stderr ?? String(e);
    throw new AttuneError(
      'slurm-submit',
      `sbatch refused the job array: ${err.trim()}`,
      "Check --partition, --account, --gres and the time limit against `sinfo` and your site's rules.",
    );
  }
  const jobId = out.trim().split(';')[0];
  await appendFile(
    submissionsFile(sweep),
    JSON.stringify({ jobId, indexes: send.map((t) => t.index), args, submittedAt: new Date().toISOString() }) + '\n',
  );
  return { jobId, trials: send };
}

/** scancel every job array this sweep submitted; running trials stop and resume on the next submission. */
export async function cancelSlurm(sweep: Sweep): Promise<string[]> {
  const ids = await jobIds(sweep);
  if (ids.length) {
    const r = spawnSync('scancel', ids, { encoding: 'utf8' });
    if (r.status !== 0)
      throw new AttuneError('slurm-cancel', `scancel failed: ${r.stderr.trim()}`, 'Check the jobs with squeue.');
  }
  return ids;
}

/** Polls until none of the sweep's tasks is queued. */
export async function waitSlurm(
  sweep: Sweep,
  opts: { pollMs?: number; timeoutMs?: number; onPoll?: (st: TrialStatus[]) => void } = {},
): Promise<TrialStatus[]> {
  const t0 = Date.now();
  for (;;) {
    const st = await slurmStatus(sweep);
    opts.onPoll?.(st);
    if ((await queued(sweep)).size === 0) return st;
    if (opts.timeoutMs && Date.now() - t0 > opts.timeoutMs)
      throw new AttuneError(
        'slurm-timeout',
        "The sweep's jobs did not finish in time.",
        'See `attune sweep --status DIR`.',
      );
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
  }
}
