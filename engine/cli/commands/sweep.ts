/**
 * `attune sweep`: methods × hyper-parameters × seeds × folds, each trial an ordinary `attune train` run folder,
 * on this machine, a Slurm cluster or (as a manifest) Kubernetes; `--race` finds the best method by successive halving.
 */
import { AttuneError } from '../../errors';
import { METHODS } from '../../methods/registry';
import { resultsMarkdown } from '../../sweep/results';
import { summarize } from '../../sweep/status';
import {
  loadSweepSpecFile,
  runSweep,
  sweepReport,
  validateSweepSpec,
  waitForSweep,
  SWEEP_BACKENDS,
  type SweepBackend,
  type SweepReport,
  type SweepSpec,
  type SweepSpecInput,
} from '../../api';
import { resolve } from 'node:path';
import {
  framesOption,
  num,
  parseFlags,
  rejectUnknown,
  required,
  str,
  VALUE_FLAGS,
  VALUE_USAGE,
  type ParsedArgs,
} from '../args';
import { BALANCE_MODES, SELECT_BY } from '../../run/spec';
import { eventPrinter } from '../events-printer';

const SWEEP_USAGE = `usage: attune sweep --data <folder> --model <backbone.onnx> --methods a,b,… --out <sweepDir> [grid options]
       attune sweep --spec sweep.yaml|sweep.json --out <sweepDir>
       attune sweep --status <sweepDir> | --cancel <sweepDir>
  grid: [--seeds 0,1,2] [--folds K] [--epochs N] [--batch B[,B2…]] [--lr X[,X2…]] [--weight-decay X[,…]]
        [method options as lists, e.g. --rank 4,8 --gps-k 1,3] [--augment …] [--provider …] [--ratios 0.8,0.1,0.1]
        [--labels file.csv --path-column c --label-column c [--group-column c]]
        as for attune train, every trial then using them: [--balance ${BALANCE_MODES.join('|')}]
        [--select-by ${SELECT_BY.join('|')}] [--frames middle|all]
        ${VALUE_USAGE}
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
  options {name: [values]}}, seeds, folds, ratios, epochs, batch, lr, augment, provider, labels, columns, window,
  valueOffset, bands, frames, balance, selectBy, overrides {exclude, relabel}, race {keep}`;

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
  'balance',
  'select-by',
  'frames',
  ...VALUE_FLAGS,
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
    // the value mapping and the imbalance handling, in attune train's forms (the spec checks them)
    ...(str(p, 'window') ? { window: str(p, 'window') } : {}),
    ...(str(p, 'value-offset') !== undefined ? { valueOffset: num(p, 'value-offset') } : {}),
    ...(str(p, 'bands') ? { bands: str(p, 'bands') } : {}),
    ...(str(p, 'frames') ? { frames: framesOption(str(p, 'frames')) } : {}),
    ...(str(p, 'balance') ? { balance: str(p, 'balance') as SweepSpecInput['balance'] } : {}),
    ...(str(p, 'select-by') ? { selectBy: str(p, 'select-by') as SweepSpecInput['selectBy'] } : {}),
  };
  return validateSweepSpec(raw, 'the command line');
}

function printStatus({ sweep, trials: st }: SweepReport, json: boolean): void {
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
  for (const s of st) {
    const acc = s.testAccuracy !== undefined ? `  test ${(100 * s.testAccuracy).toFixed(1)} %` : '';
    const err = s.error ? `  ${s.error.split('\n')[0]}` : '';
    const id = `${String(s.trial.index).padStart(3)} ${s.trial.id.padEnd(36)}`;
    console.log(`  ${id} ${s.state.padEnd(9)} ${s.epochsDone ?? 0} epoch(s)${acc}${err}`);
  }
  for (const s of st.filter((x) => x.state === 'failed' && x.logTail))
    console.log(`\n--- ${s.trial.id} (last lines of its log) ---\n${s.logTail}`);
}

function backendFromFlags(p: ParsedArgs): SweepBackend {
  const kind = str(p, 'backend') ?? 'local';
  const parallel = num(p, 'parallel', { integer: true, min: 1 });
  const gpus = num(p, 'gpus', { integer: true, min: 1 });
  const cpus = num(p, 'cpus', { integer: true, min: 1 });
  const mem = str(p, 'mem');
  switch (kind) {
    case 'local':
      return { kind, parallel };
    case 'slurm':
      return {
        kind,
        slurm: {
          partition: str(p, 'partition'),
          gpus,
          cpus,
          mem,
          time: str(p, 'time'),
          account: str(p, 'account'),
          parallel,
        },
      };
    case 'k8s':
      return {
        kind,
        emit: required(p, 'emit', 'Write --backend k8s --emit job.yaml.'),
        k8s: { image: str(p, 'image'), pvc: str(p, 'pvc'), mountPath: str(p, 'mount-path'), parallel, gpus, cpus, mem },
      };
  }
  throw new AttuneError('usage', `Unknown backend "${kind}".`, `Use --backend ${SWEEP_BACKENDS.join(', ')}.`);
}

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
        const report = await sweepReport(statusDir, { cancel: p.flags.has('cancel') });
        if (report.cancelled)
          printer.sink({
            type: 'log',
            level: 'info',
            message: `scancel ${report.cancelled.join(' ')}: running trials stop; re-run the sweep command to resume them.`,
          });
        printStatus(report, json);
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
      const backend = backendFromFlags(p);
      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130);
        console.error(
          '\ncancelling: running trials save and stop (Ctrl-C again quits at once); the same command resumes',
        );
        abort.abort();
      };
      if (backend.kind === 'local') process.on('SIGINT', onSigint);
      try {
        const r = await runSweep(spec, out, backend, { signal: abort.signal, onEvent: printer.sink });
        switch (r.kind) {
          case 'race': {
            const race = r.race;
            if (json) process.stdout.write(JSON.stringify({ type: 'race', ...race }) + '\n');
            else {
              for (const g of race.rungs) {
                const cands = g.candidates.map(
                  (c) => `${c.config} ${(100 * c.valAccuracy.mean).toFixed(1)}${c.kept ? ' ✓' : ''}`,
                );
                console.log(`rung ${g.rung + 1} (${g.epochs} epoch(s)): ${cands.join(', ')}`);
              }
              const t = race.result?.testAccuracy;
              const ci = t?.ci95
                ? ` (95 % interval ${(100 * t.ci95[0]).toFixed(1)}–${(100 * t.ci95[1]).toFixed(1)})`
                : '';
              console.log(
                race.winner
                  ? `winner: ${race.winner} — test accuracy ${t ? (100 * t.mean).toFixed(1) : '?'} %${ci}`
                  : 'no winner (cancelled)',
              );
            }
            return abort.signal.aborted ? 130 : 0;
          }
          case 'emitted':
            printer.sink({
              type: 'log',
              level: 'info',
              message: `wrote ${r.file}: an Indexed Job of ${r.trials} trials (kubectl apply -f ${r.file})`,
            });
            return 0;
          case 'submitted': {
            if (json)
              process.stdout.write(
                JSON.stringify({ type: 'sweep-submitted', dir: r.sweep.dir, jobId: r.jobId, trials: r.trials }) + '\n',
              );
            else
              console.log(
                r.jobId
                  ? `submitted job array ${r.jobId}: ${r.trials.length} trial(s). Follow with: attune sweep --status ${r.sweep.dir}`
                  : 'nothing to submit: every trial is done or queued.',
              );
            if (!p.flags.has('wait')) return 0;
            const { results } = await waitForSweep(r.sweep.dir);
            if (!json) console.log(resultsMarkdown(results));
            return results.missing.length ? 1 : 0;
          }
          case 'results':
            if (json) process.stdout.write(JSON.stringify({ type: 'sweep-results', ...r.results }) + '\n');
            else console.log(resultsMarkdown(r.results));
            return abort.signal.aborted ? 130 : r.results.missing.length ? 1 : 0;
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    } finally {
      printer.stop();
    }
  },
};
