/**
 * `attune sweep`: methods × hyper-parameters × seeds × folds, each trial an ordinary `attune train` run folder,
 * on this machine, a Slurm cluster or (as a manifest) Kubernetes; `--race` finds the best method by successive halving.
 */
import { AttuneError } from '../../errors';
import { METHODS } from '../../methods/registry';
import { runLocal } from '../../sweep/local';
import { emitK8sJob } from '../../sweep/k8s';
import { runRace } from '../../sweep/race';
import { resultsMarkdown, writeResults } from '../../sweep/results';
import { cancelSlurm, slurmAvailable, slurmStatus, submitSlurm, waitSlurm } from '../../sweep/slurm';
import { loadSweepSpecFile, validateSweepSpec, type SweepSpec, type SweepSpecInput } from '../../sweep/spec';
import { summarize, sweepStatus, type TrialStatus } from '../../sweep/status';
import { loadSweep, openSweep, type Sweep } from '../../sweep/sweep';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { num, parseFlags, rejectUnknown, required, str, type ParsedArgs } from '../args';
import { eventPrinter } from '../events-printer';

const SWEEP_USAGE = `usage: attune sweep --data <folder> --model <backbone.onnx> --methods a,b,… --out <sweepDir> [grid options]
       attune sweep --spec sweep.yaml|sweep.json --out <sweepDir>
       attune sweep --status <sweepDir> | --cancel <sweepDir>
  grid: [--seeds 0,1,2] [--folds K] [--epochs N] [--batch B[,B2…]] [--lr X[,X2…]] [--weight-decay X[,…]]
        [method options as lists, e.g. --rank 4,8 --gps-k 1,3] [--augment …] [--provider …] [--ratios 0.8,0.1,0.1]
        [--labels file.csv --path-column c --label-column c [--group-column c]]
  --race              successive halving: each candidate trains a short budget, the best third go on, until one
                      winner trains for the full --epochs (local backend)
  --backend local     (default) trials one after another, or --parallel N side by side with the cores split;
                      Ctrl-C stops and saves, the same command resumes
  --backend slurm     one job array through sbatch: [--partition P] [--gpus N] [--cpus N] [--mem 8G] [--time 2:00:00]
                      [--account A] [--parallel N] [--wait]; re-running submits only unfinished or failed trials
  --backend k8s --emit job.yaml [--image I] [--pvc CLAIM] [--mount-path DIR] [--gpus N] [--cpus N] [--mem 8G]: a Kubernetes Indexed Job
  --json              one JSON event per line; results.json and results.md are written to the sweep folder
  methods: ${METHODS.map((m) => m.name).join(', ')}
  spec file fields: data, model, methods (names or {method, name, options}), grid {lr, batch, epochs, weightDecay,
  options {name: [values]}}, seeds, folds, ratios, epochs, batch, lr, augment, provider, labels, columns, race {keep}`;

const OPTION_FLAGS = [
  ...new Map(METHODS.flatMap((m) => m.options.map((o) => [o.flag.replace(/^--/, ''), o.name] as const))),
];
const KNOWN = new Set([
  'data',
  'model',
  'methods',
  'out',
  'spec',
  'seeds',
  'folds',
  'epochs',
  'batch',
  'lr',
  'weight-decay',
  'augment',
  'provider',
  'ratios',
  'labels',
  'path-column',
  'label-column',
  'group-column',
  'race',
  'backend',
  'parallel',
  'partition',
  'gpus',
  'cpus',
  'mem',
  'time',
  'account',
  'wait',
  'emit',
  'image',
  'pvc',
  'mount-path',
  'status',
  'cancel',
  'json',
  ...OPTION_FLAGS.map(([f]) => f),
]);

const list = (p: ParsedArgs, name: string): number[] | undefined => {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isFinite(x)))
    throw new AttuneError('usage', `--${name} must be a comma-separated list of numbers, not "${v}".`, SWEEP_USAGE);
  return xs;
};

function specFromFlags(p: ParsedArgs): SweepSpec {
  const lr = list(p, 'lr');
  const batch = list(p, 'batch');
  const wd = list(p, 'weight-decay');
  const options: Record<string, (number | string | boolean)[]> = {};
  for (const [flag, name] of OPTION_FLAGS) {
    const v = str(p, flag);
    if (v !== undefined)
      options[name] = v
        .split(',')
        .map((s) => (s === 'true' ? true : s === 'false' ? false : Number.isFinite(Number(s)) ? Number(s) : s));
  }
  const raw: SweepSpecInput = {
    // absolute: job scripts run from Attune's folder, on other machines
    data: resolve(required(p, 'data', SWEEP_USAGE)),
    model: resolve(required(p, 'model', SWEEP_USAGE)),
    methods: required(p, 'methods', SWEEP_USAGE)
      .split(',')
      .map((s) => s.trim()),
    grid: {
      ...(lr && lr.length > 1 ? { lr } : {}),
      ...(batch && batch.length > 1 ? { batch } : {}),
      ...(wd ? { weightDecay: wd } : {}),
      ...(Object.keys(options).length ? { options } : {}),
    },
    seeds: list(p, 'seeds') ?? [0],
    folds: num(p, 'folds', { integer: true, min: 0 }) ?? 0,
    ...(lr?.length === 1 ? { lr: lr[0] } : {}),
    ...(batch?.length === 1 ? { batch: batch[0] } : {}),
    ...(str(p, 'epochs') ? { epochs: num(p, 'epochs', { integer: true, min: 1 }) } : {}),
    ...(str(p, 'augment') ? { augment: str(p, 'augment') as SweepSpecInput['augment'] } : {}),
    ...(str(p, 'provider') ? { provider: str(p, 'provider') as SweepSpecInput['provider'] } : {}),
    ...(str(p, 'ratios') ? { ratios: str(p, 'ratios')!.split(',').map(Number) as [number, number, number] } : {}),
    ...(str(p, 'labels')
      ? {
          labels: resolve(str(p, 'labels')!),
          columns: { path: str(p, 'path-column'), label: str(p, 'label-column'), group: str(p, 'group-column') },
        }
      : {}),
    ...(p.flags.has('race') ? { race: {} } : {}),
  };
  return validateSweepSpec(raw, 'the command line');
}

function printStatus(sweep: Sweep, st: TrialStatus[], json: boolean): void {
  const counts = summarize(st);
  if (json) {
    process.stdout.write(
      JSON.stringify({
        type: 'sweep-status',
        dir: sweep.dir,
        counts,
        trials: st.map((s) => ({
          id: s.trial.id,
          index: s.trial.index,
          state: s.state,
          epochsDone: s.epochsDone,
          testAccuracy: s.testAccuracy,
          error: s.error,
        })),
      }) + '\n',
    );
    return;
  }
  console.log(
    `${sweep.dir}: ${st.length} trials — ${Object.entries(counts)
      .filter(([, n]) => n)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}`,
  );
  for (const s of st)
    console.log(
      `  ${String(s.trial.index).padStart(3)} ${s.trial.id.padEnd(36)} ${s.state.padEnd(9)} ${s.epochsDone ?? 0} epoch(s)${s.testAccuracy !== undefined ? `  test ${(100 * s.testAccuracy).toFixed(1)} %` : ''}${s.error ? `  ${s.error.split('\n')[0]}` : ''}`,
    );
  for (const s of st.filter((x) => x.state === 'failed' && x.logTail))
    console.log(`\n--- ${s.trial.id} (last lines of its log) ---\n${s.logTail}`);
}

const usesSlurm = (sweep: Sweep) => existsSync(join(sweep.dir, 'slurm', 'submissions.jsonl'));

export const sweepCommand = {
  name: 'sweep',
  usage: SWEEP_USAGE,
  summary: 'run a grid of methods × hyper-parameters × seeds × folds (local, Slurm, Kubernetes), or a method race',
  async run(argv: string[]): Promise<number> {
    const p = parseFlags(argv, new Set(['json', 'race', 'wait']));
    rejectUnknown(p, KNOWN, SWEEP_USAGE);
    const json = p.flags.has('json');
    const printer = eventPrinter(json);
    try {
      const statusDir = str(p, 'status') ?? str(p, 'cancel');
      if (statusDir) {
        const sweep = await loadSweep(statusDir);
        if (p.flags.has('cancel')) {
          if (!usesSlurm(sweep))
            throw new AttuneError(
              'usage',
              `${sweep.dir} was not submitted to Slurm.`,
              'Stop a local sweep with Ctrl-C; it resumes when run again.',
            );
          const ids = await cancelSlurm(sweep);
          printer.sink({
            type: 'log',
            level: 'info',
            message: `scancel ${ids.join(' ')}: running trials stop; re-run the sweep command to resume them.`,
          });
        }
        const st =
          usesSlurm(sweep) && slurmAvailable() ? await slurmStatus(sweep) : sweepStatus(sweep.dir, sweep.trials);
        await writeResults(sweep, st);
        printStatus(sweep, st, json);
        return 0;
      }
      const specFile = str(p, 'spec');
      if (specFile)
        for (const k of ['data', 'model', 'methods', 'seeds', 'folds', 'epochs', 'lr', 'batch'])
          if (p.flags.has(k))
            throw new AttuneError('usage', `--${k} cannot be combined with --spec.`, 'Put it in the spec file.');
      const spec = specFile ? await loadSweepSpecFile(specFile) : specFromFlags(p);
      if (specFile && p.flags.has('race')) spec.race ??= { keep: 1 / 3 };
      const out = required(p, 'out', SWEEP_USAGE);
      const backend = str(p, 'backend') ?? 'local';
      if (!['local', 'slurm', 'k8s'].includes(backend))
        throw new AttuneError('usage', `Unknown backend "${backend}".`, 'Use --backend local, slurm or k8s.');
      const parallel = num(p, 'parallel', { integer: true, min: 1 });
      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130);
        console.error(
          '\ncancelling: running trials save and stop (Ctrl-C again quits at once); the same command resumes',
        );
        abort.abort();
      };
      if (spec.race) {
        if (backend !== 'local')
          throw new AttuneError(
            'usage',
            'The method race runs on the local backend.',
            'Drop --backend, or run a plain sweep on the cluster.',
          );
        process.on('SIGINT', onSigint);
        try {
          const race = await runRace(
            spec,
            out,
            (s) => runLocal(s, { parallel, signal: abort.signal, onEvent: printer.sink }),
            { onEvent: printer.sink, signal: abort.signal },
          );
          if (json) process.stdout.write(JSON.stringify({ type: 'race', ...race }) + '\n');
          else {
            for (const r of race.rungs)
              console.log(
                `rung ${r.rung + 1} (${r.epochs} epoch(s)): ${r.candidates.map((c) => `${c.config} ${(100 * c.valAccuracy.mean).toFixed(1)}${c.kept ? ' ✓' : ''}`).join(', ')}`,
              );
            const t = race.result?.testAccuracy;
            console.log(
              race.winner
                ? `winner: ${race.winner} — test accuracy ${t ? (100 * t.mean).toFixed(1) : '?'} %${t?.ci95 ? ` (95 % interval ${(100 * t.ci95[0]).toFixed(1)}–${(100 * t.ci95[1]).toFixed(1)})` : ''}`
                : 'no winner (cancelled)',
            );
          }
          return abort.signal.aborted ? 130 : 0;
        } finally {
          process.off('SIGINT', onSigint);
        }
      }
      const sweep = await openSweep(spec, out, { onEvent: printer.sink });
      if (backend === 'k8s') {
        const file = required(p, 'emit', 'Write --backend k8s --emit job.yaml.');
        await emitK8sJob(sweep, file, {
          image: str(p, 'image'),
          pvc: str(p, 'pvc'),
          mountPath: str(p, 'mount-path'),
          parallel,
          gpus: num(p, 'gpus', { integer: true, min: 1 }),
          cpus: num(p, 'cpus', { integer: true, min: 1 }),
          mem: str(p, 'mem'),
        });
        printer.sink({
          type: 'log',
          level: 'info',
          message: `wrote ${file}: an Indexed Job of ${sweep.trials.length} trials (kubectl apply -f ${file})`,
        });
        return 0;
      }
      if (backend === 'slurm') {
        const sub = await submitSlurm(sweep, {
          partition: str(p, 'partition'),
          gpus: num(p, 'gpus', { integer: true, min: 1 }),
          cpus: num(p, 'cpus', { integer: true, min: 1 }),
          mem: str(p, 'mem'),
          time: str(p, 'time'),
          account: str(p, 'account'),
          parallel,
        });
        if (json)
          process.stdout.write(
            JSON.stringify({
              type: 'sweep-submitted',
              dir: sweep.dir,
              jobId: sub.jobId,
              trials: sub.trials.map((t) => t.index),
            }) + '\n',
          );
        else
          console.log(
            sub.jobId
              ? `submitted job array ${sub.jobId}: ${sub.trials.length} trial(s). Follow with: attune sweep --status ${sweep.dir}`
              : 'nothing to submit: every trial is done or queued.',
          );
        if (!p.flags.has('wait')) return 0;
        const st = await waitSlurm(sweep);
        const r = await writeResults(sweep, st);
        if (!json) console.log(resultsMarkdown(r));
        return r.missing.length ? 1 : 0;
      }
      process.on('SIGINT', onSigint);
      try {
        const st = await runLocal(sweep, { parallel, signal: abort.signal, onEvent: printer.sink });
        const r = await writeResults(sweep, st);
        if (json) process.stdout.write(JSON.stringify({ type: 'sweep-results', ...r }) + '\n');
        else console.log(resultsMarkdown(r));
        return abort.signal.aborted ? 130 : r.missing.length ? 1 : 0;
      } finally {
        process.off('SIGINT', onSigint);
      }
    } finally {
      printer.stop();
    }
  },
};
