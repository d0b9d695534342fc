/**
 * The job description shared by every backend: one shell script per trial (`jobs/<index>.sh`) that runs
 * `attune train` into the trial's run folder, appends its output to `train.log` and records the exit code.
 * Local processes, Slurm array tasks and Kubernetes completion indexes all run `jobs/$INDEX.sh`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SweepConfig, Trial } from './grid';
import type { SweepSpec } from './spec';
import { getMethod } from '../methods/registry';
import type { RunRequest } from '../train/trainer';
import { formatWindow, parseWindow } from '../preprocessing';
import { formatBandSelection, parseBandSelection } from '../data/bands';

/** The repository root (where `node --import tsx engine/cli/main.ts` runs); computed when a job script is written. */
const repoRoot = (): string => fileURLToPath(new URL('../..', import.meta.url)).replace(/[\\/]$/, '');

export const trialDir = (sweepDir: string, t: Trial): string => join(resolve(sweepDir), 'trials', t.id);
export const splitFileFor = (sweepDir: string, fold: number, folds: number): string =>
  join(resolve(sweepDir), 'splits', folds > 1 ? `fold-${fold}.json` : 'split.json');

/** The engine's train request for one trial: the one description both the CLI arguments and in-process runs use. */
export function trainRequest(sweepDir: string, spec: SweepSpec, c: SweepConfig, t: Trial, folds: number): RunRequest {
  const req: RunRequest = {
    data: spec.data,
    model: spec.model,
    method: c.method,
    outDir: trialDir(sweepDir, t),
    seed: t.seed,
    splitFile: splitFileFor(sweepDir, t.fold, folds),
    epochs: t.epochs ?? c.epochs ?? spec.epochs,
    batch: c.batch ?? spec.batch,
    lr: c.lr ?? spec.lr,
    weightDecay: c.weightDecay,
    optimizer: c.optimizer,
    spdLambda: c.spdLambda,
    warmupEpochs: c.warmupEpochs,
    labelSmoothing: c.labelSmoothing,
    clipNorm: c.clipNorm,
    augment: spec.augment,
    provider: spec.provider,
    labels: spec.labels,
    columns: spec.labels ? spec.columns : undefined,
    methodOptions: c.options,
    window: spec.window !== undefined ? parseWindow(spec.window) : undefined,
    valueOffset: spec.valueOffset,
    bands: spec.bands !== undefined ? parseBandSelection(spec.bands) : undefined,
    frames: spec.frames,
    balance: spec.balance,
    selectBy: spec.selectBy,
  };
  return Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)) as unknown as RunRequest;
}

/** The same request as `attune train` arguments (what jobs/<index>.sh runs). */
function trainArgs(req: RunRequest): string[] {
  const a = ['train', '--data', req.data, '--model', req.model, '--method', req.method, '--out', req.outDir, '--json'];
  const put = (flag: string, v: number | string | undefined) => v !== undefined && a.push(flag, String(v));
  put('--seed', req.seed);
  put('--split', req.splitFile);
  put('--epochs', req.epochs);
  put('--batch', req.batch);
  put('--lr', req.lr);
  put('--weight-decay', req.weightDecay);
  put('--optimizer', req.optimizer);
  put('--spd-lambda', req.spdLambda);
  put('--warmup', req.warmupEpochs);
  put('--label-smoothing', req.labelSmoothing);
  put('--clip-norm', req.clipNorm === null ? 'none' : req.clipNorm);
  put('--augment', req.augment);
  put('--provider', req.provider);
  put('--labels', req.labels);
  put('--path-column', req.columns?.path);
  put('--label-column', req.columns?.label);
  put('--group-column', req.columns?.group);
  put('--window', req.window && formatWindow(req.window));
  put('--value-offset', req.valueOffset);
  put('--bands', req.bands && formatBandSelection(req.bands));
  put('--frames', req.frames);
  put('--balance', req.balance);
  put('--select-by', req.selectBy);
  const flags = new Map(getMethod(req.method).options.map((o) => [o.name, o.flag]));
  for (const [k, v] of Object.entries(req.methodOptions ?? {})) {
    const flag = flags.get(k)!;
    if (typeof v === 'boolean') a.push(`${flag}=${v}`);
    else a.push(flag, String(v));
  }
  return a;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Writes jobs/<index>.sh for each trial. ATTUNE_THREADS (or Slurm's cpus per task) caps onnxruntime's threads;
 * ATTUNE_ROOT and ATTUNE_NODE point at Attune's checkout and node where they differ from this machine's
 * (a container).
 */
export async function writeJobScripts(
  sweepDir: string,
  spec: SweepSpec,
  configs: SweepConfig[],
  trials: Trial[],
  folds: number,
): Promise<void> {
  const dir = join(resolve(sweepDir), 'jobs');
  await mkdir(dir, { recursive: true });
  const byId = new Map(configs.map((c) => [c.id, c]));
  for (const t of trials) {
    const run = trialDir(sweepDir, t);
    const args = trainArgs(trainRequest(sweepDir, spec, byId.get(t.config)!, t, folds));
    const script = [
      '#!/usr/bin/env bash',
      `# trial ${t.id} (index ${t.index}), written by attune sweep; runs attune train into its run folder`,
      `run=${q(run)}`,
      'mkdir -p "$run" && rm -f "$run/exit-code"',
      'export ATTUNE_THREADS="${ATTUNE_THREADS:-${SLURM_CPUS_PER_TASK:-}}"',
      `cd "\${ATTUNE_ROOT:-${repoRoot().replace(/"/g, '\\"')}}" || exit 1`,
      `echo "== $(date -u +%FT%TZ) start on $(hostname)" >>"$run/train.log"`,
      `"\${ATTUNE_NODE:-${process.execPath}}" --import tsx engine/cli/main.ts ${args.map(q).join(' ')} >>"$run/train.log" 2>&1`,
      'rc=$?',
      'echo "$rc" >"$run/exit-code"',
      'exit "$rc"',
      '',
    ].join('\n');
    await writeFile(join(dir, `${t.index}.sh`), script, { mode: 0o755 });
  }
}
