/**
 * Fine-tuning methods on ViT-Tiny/16 as a sweep (the code of `attune sweep`): every method × seeds (× folds) on
 * aid-satellite-subset and busi-ultrasound, one shared split per dataset, each trial an `attune train` run folder.
 * Reports test accuracy mean ± sd with its 95 % t-interval, the paired difference against the best method on the same
 * seeds/folds, trainable-parameter % and seconds per epoch; writes bench/results/methods.md (+ sweeps' results.json).
 *
 * Usage: npx tsx bench/methods.bench.ts [--protocol reduced|paper] [--json] [--quick] [--methods a,b] [--datasets a,b]
 *          [--seeds N] [--folds K] [--epochs N] [--per-class N] [--parallel N] [--provider P] [--out file.md]
 *          [--keep DIR] [--estimate-only]
 * --protocol reduced (default): a CPU-sized run: --per-class images per class, each method's defaults, --epochs.
 * --protocol paper: VTAB-1k style (800 train / 200 val images per task, the rest test; 100 epochs; the official
 *   hyper-parameters of METHODS.md; GPS's K, PACE's λ and σ and SPD's λ searched and selected on validation as in the
 *   papers). Meant for a GPU (--provider cuda): it first measures one epoch per method on this device and prints the
 *   estimated time; --estimate-only stops there.
 * --quick: 12 images per class of 5 classes (AID) / 3 classes (BUSI), 2 epochs, batch 8, 1 seed — a smoke run.
 * Methods are registry names, `name+spd` (that method with the SPD optimizer) or `pace-base`; `@B` sets a batch.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBackbone, withNewHead } from '../engine/backbone/load';
import { parameterCount } from '../engine/methods/layers';
import { METHODS } from '../engine/methods/registry';
import { loadCheckpoint } from '../engine/run/checkpoint';
import { runFiles } from '../engine/run/spec';
import { expandConfigs } from '../engine/sweep/grid';
import { trialDir } from '../engine/sweep/job';
import { runLocal } from '../engine/sweep/local';
import { writeResults, type SweepResults } from '../engine/sweep/results';
import { validateSweepSpec, type SweepSpecInput } from '../engine/sweep/spec';
import { openSweep, type Sweep } from '../engine/sweep/sweep';
import { readFlags } from './args';

const flags = readFlags(
  'npx tsx bench/methods.bench.ts [flags]: every method as a sweep on AID and BUSI; writes bench/results/methods.md',
  {
    protocol: { type: 'string', value: 'reduced|paper', help: 'a CPU-sized run, or VTAB-1k style (reduced)' },
    json: { type: 'boolean', help: 'the results as JSON on stdout' },
    quick: { type: 'boolean', help: 'a smoke run: 12 images per class, 2 epochs, batch 8, 1 seed' },
    methods: { type: 'string', value: 'a,b', help: 'registry names, name+spd, pace-base; @B sets a batch' },
    datasets: { type: 'string', value: 'a,b', help: 'aid-satellite-subset, busi-ultrasound (both)' },
    seeds: { type: 'string', value: 'N', help: 'seeds per method (3; --quick 1)' },
    folds: { type: 'string', value: 'K', help: 'cross-validation folds (0: one split)' },
    epochs: { type: 'string', value: 'N', help: "epochs (each method's default; paper 100)" },
    'per-class': { type: 'string', value: 'N', help: 'images per class (40; --quick 12)' },
    parallel: { type: 'string', value: 'N', help: 'trials at once (1)' },
    provider: { type: 'string', value: 'P', help: 'cpu, cuda, webgpu (auto)' },
    out: { type: 'string', value: 'file.md', help: 'where the table goes (bench/results/methods.md)' },
    keep: { type: 'string', value: 'DIR', help: 'run folders go here and stay' },
    'estimate-only': { type: 'boolean', help: 'paper protocol: print the estimated time and stop' },
  },
);
const argv = flags.argv;
const flag = flags.text;
const protocol = flags.list('protocol', ['reduced', 'paper'])?.[0] ?? 'reduced';
const paper = protocol === 'paper';
const json = flags.on('json');
const quick = flags.on('quick');
const seeds = flags.integer('seeds', quick ? 1 : 3);
const folds = flags.integer('folds', 0, 0);
const epochs = flag('epochs') ? flags.integer('epochs', 1) : paper ? 100 : quick ? 2 : undefined;
const perClass = flags.integer('per-class', quick ? 12 : 40);
const batch = quick ? 8 : undefined;
const provider = flag('provider') as SweepSpecInput['provider'];
const parallel = flags.integer('parallel', 1);
const methods = (flag('methods') ?? 'linear,full,bitfit,lora,l2sp,gps,pace-base,pace,full+spd').split(',');
const outFile = flag('out') ?? path.join(import.meta.dirname, 'results', 'methods.md');
const root = path.resolve(import.meta.dirname, '../../shared');
const model = path.join(root, 'models/vit-tiny-patch16-224.onnx');
const datasets = [
  { name: 'aid-satellite-subset', classes: quick ? 5 : paper ? 30 : 10 },
  { name: 'busi-ultrasound', classes: 3 },
];
const onlyDatasets = flags.list(
  'datasets',
  datasets.map((d) => d.name),
);
const chosen = datasets.filter((d) => !onlyDatasets || onlyDatasets.includes(d.name));
const work = flag('keep') ?? mkdtempSync(path.join(os.tmpdir(), 'attune-bench-methods-'));
mkdirSync(work, { recursive: true });

/** The sweep's method entries: a label per benchmark method, with the paper protocol's searches on validation. */
function entry(label: string): SweepSpecInput['methods'][number] {
  const [spec, batchOverride] = label.split('@');
  const [base, opt] = spec.split('+');
  const name = base === 'pace-base' ? 'pace' : base;
  const method = METHODS.find((m) => m.name === name);
  if (!method) throw new Error(`no method or variant called ${base}`);
  const e: Extract<SweepSpecInput['methods'][number], object> = { method: name, name: label };
  if (base === 'pace-base') e.options = { sigma: 0, lambda: 0 }; // PACE's adapter without noise or consistency
  if (opt === 'spd') e.optimizer = 'spd';
  if (batchOverride) e.batch = Number(batchOverride);
  if (method.cachedFeatures) e.epochs = method.defaults.epochs; // its epochs run on cached features in seconds
  if (paper) {
    // METHODS.md: the papers' searches, selected on validation accuracy
    if (name === 'gps') Object.assign(e, { grid: { k: [1, 2] }, lr: 1e-3 });
    if (name === 'pace' && base !== 'pace-base')
      e.grid = { lambda: [0.02, 0.05, 0.1, 0.2, 0.5, 1], sigma: [0.1, 0.5, 1, 1.5, 2] };
    if (opt === 'spd') e.grid = { spdLambda: [0.1, 0.25, 0.5, 0.75, 1] };
  }
  return e;
}

/** A copy of the first images of the first classes; a fixed name, so that a run with --keep DIR resumes its sweeps. */
function subset(name: string, classes: number, tag = ''): string {
  const src = path.join(root, 'datasets', name);
  const dir = path.join(work, `data-${name}-${classes}x${perClass}${tag}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const c of readdirSync(src).sort().slice(0, classes)) {
    mkdirSync(path.join(dir, c));
    for (const f of readdirSync(path.join(src, c)).sort().slice(0, perClass))
      copyFileSync(path.join(src, c, f), path.join(dir, c, f));
  }
  return dir;
}

const countImages = (dir: string) => readdirSync(dir).reduce((n, c) => n + readdirSync(path.join(dir, c)).length, 0);

/** VTAB-1k: 800 train + 200 val, the rest test (a set under 1,250 images keeps 80 % for train + val, 4:1). */
function paperRatios(n: number): [number, number, number] {
  const trainVal = Math.min(1000, Math.floor(0.8 * n));
  return [(0.8 * trainVal) / n, (0.2 * trainVal) / n, 1 - trainVal / n];
}

const secondsPerEpoch = (sweep: Sweep, config: string): number => {
  const xs = sweep.trials
    .filter((t) => t.config === config)
    .flatMap((t) => {
      try {
        return readFileSync(runFiles(trialDir(sweep.dir, t)).metrics, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"type":"epoch"'))
          .map((l) => (JSON.parse(l) as { seconds: number }).seconds);
      } catch {
        return [];
      }
    });
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
};

/** Measures one epoch per method on a small subset on this device, and extrapolates to the paper protocol. */
async function estimatePaper(
  ds: { name: string; classes: number },
  data: string,
  trainImages: number,
): Promise<number> {
  const probe = subset(ds.name, ds.classes, '-probe');
  for (const c of readdirSync(probe))
    for (const f of readdirSync(path.join(probe, c)).slice(Math.ceil(96 / ds.classes))) rmSync(path.join(probe, c, f));
  const spec = validateSweepSpec({
    data: probe,
    model,
    methods: methods.map((m) => ({ ...(entry(m) as object), grid: undefined, epochs: 1 })),
    seeds: [0],
    epochs: 1,
    provider,
  });
  const sweep = await openSweep(spec, path.join(work, `estimate-${ds.name}`));
  await runLocal(sweep);
  const probeTrain = Math.round(countImages(probe) * 0.8);
  const full = validateSweepSpec({
    data,
    model,
    methods: methods.map(entry),
    seeds: Array.from({ length: seeds }, (_, i) => i),
    epochs,
    provider,
  });
  let total = 0;
  for (const c of expandConfigs(full)) {
    const perImage =
      secondsPerEpoch(
        sweep,
        spec.methods.map((m) => (typeof m === 'string' ? m : m.name!)).find((n) => n === c.group)!,
      ) / probeTrain;
    total += seeds * (c.epochs ?? epochs ?? 1) * trainImages * perImage;
  }
  return total;
}

const backbone = await loadBackbone(model);
const rows: Record<string, unknown>[] = [];
const sections: string[] = [];
for (const ds of chosen) {
  const data = paper ? path.join(root, 'datasets', ds.name) : subset(ds.name, ds.classes);
  const n = countImages(data);
  const ratios = paper ? paperRatios(n) : undefined;
  if (paper) {
    const est = await estimatePaper(ds, data, Math.round(n * ratios![0]));
    console.error(
      `${ds.name}: paper protocol, estimated ${(est / 3600).toFixed(1)} h of training on this device (${provider ?? 'auto'} provider; measured from one epoch per method)`,
    );
    if (flags.on('estimate-only')) continue;
  }
  const spec = validateSweepSpec({
    data,
    model,
    methods: methods.map(entry),
    seeds: Array.from({ length: seeds }, (_, i) => i),
    folds,
    epochs,
    batch,
    provider,
    ratios,
  });
  const sweep = await openSweep(spec, path.join(work, `sweep-${ds.name}`));
  const statuses = await runLocal(sweep, { parallel, onEvent: (e) => e.type === 'log' && console.error(e.message) });
  const r: SweepResults = await writeResults(sweep, statuses);
  // parameters of the network that trains: the backbone up to its features plus the new C-class head
  const params = parameterCount(withNewHead(backbone, ds.classes, 0).model.graph);
  for (const c of r.configs) {
    const t = sweep.trials.find((x) => x.config === c.config && r.missing.every((m) => m.trial !== x.id));
    const trainable = t
      ? [...(await loadCheckpoint(runFiles(trialDir(sweep.dir, t)).best)).tensors.values()].reduce(
          (a, x) => a + x.data.length,
          0,
        )
      : NaN;
    const row = {
      dataset: ds.name,
      config: c.config,
      group: c.group,
      protocol,
      seeds,
      folds,
      n: c.testAccuracy.n,
      testAccuracy: c.testAccuracy,
      vsBest: c.vsBest,
      valAccuracy: c.valAccuracy.mean,
      trainablePercent: (100 * trainable) / params,
      secondsPerEpoch: secondsPerEpoch(sweep, c.config),
      best: c.config === r.best,
    };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
  }
  sections.push(
    `### ${ds.name}${paper ? '' : ` (${perClass} images per class of ${ds.classes} classes)`}`,
    '',
    `Sweep folder: \`${sweep.dir}\`; ${r.trials - r.missing.length}/${r.trials} trials finished${r.missing.length ? ` (missing: ${r.missing.map((m) => `${m.trial} ${m.state}`).join(', ')})` : ''}.`,
    '',
    ...(r.selectedOnValidation.length
      ? [
          "Selected on validation (the papers' protocol): " +
            r.selectedOnValidation.map((s) => `${s.group} → ${s.config}`).join('; ') +
            '.',
          '',
        ]
      : []),
  );
  // (rounding −0.04 to "-0.0" would read as a loss)
  const pct = (x: number) => (Math.abs(100 * x) < 0.05 ? 0 : 100 * x).toFixed(1);
  const ci = (s: { ci95: [number, number] | null }) => (s.ci95 ? `[${pct(s.ci95[0])}, ${pct(s.ci95[1])}]` : '—');
  sections.push(
    '| method | test acc. % (mean ± sd) | 95 % interval | Δ vs best, paired | 95 % interval of Δ | trainable % | s / epoch |',
    '|---|---|---|---|---|---|---|',
  );
  for (const row of rows
    .filter((x) => x.dataset === ds.name)
    .sort((a, b) => (b.testAccuracy as { mean: number }).mean - (a.testAccuracy as { mean: number }).mean)) {
    const t = row.testAccuracy as { mean: number; sd: number | null; ci95: [number, number] | null; n: number };
    const d = row.vsBest as { mean: number; ci95: [number, number] | null; significant: boolean } | undefined;
    sections.push(
      `| ${row.config}${row.best ? ' (best)' : ''} | ${t.n ? `${pct(t.mean)} ± ${t.sd === null ? '—' : pct(t.sd)}` : '—'} | ${ci(t)} | ${d ? `${pct(d.mean)}${d.significant ? ' *' : ''}` : row.best ? '0' : '—'} | ${d ? ci(d) : '—'} | ${(row.trainablePercent as number).toFixed(3)} | ${(row.secondsPerEpoch as number).toFixed(1)} |`,
    );
  }
  sections.push('');
}

if (!(paper && flags.on('estimate-only'))) {
  const md = [
    '# Fine-tuning methods on ViT-Tiny/16',
    '',
    `Generated by \`npm run bench:methods -- ${argv.join(' ')}\` on ${os.cpus().length} CPU cores (${provider ?? 'auto'} provider), ${new Date().toISOString().slice(0, 10)}.`,
    paper
      ? '**Protocol: paper** (VTAB-1k style: 800 train / 200 val images per task, the rest test; 100 epochs; official hyper-parameters; GPS K, PACE λ/σ and SPD λ selected on validation).'
      : `**Protocol: reduced** (CPU-sized; not the papers' protocol): ${perClass} images per class, the same seeded 80/10/10 split for every method, epochs ${epochs ?? 'method default'} (the linear probe keeps its default: its epochs run on cached features), batch ${batch ?? 'method default'}.`,
    `${seeds} seed(s)${folds > 1 ? ` × ${folds} folds` : ''} per method, run by the sweep code (\`attune sweep\`; each trial an \`attune train\` run folder).`,
    'Intervals: 95 % Student-t intervals over seeds × folds. Δ vs best: the method minus the best method on the same seeds/folds, with a paired t-interval; * marks an interval that excludes 0 (the gap is unlikely to be noise); with one seed there is no interval.',
    "Trainable % counts trained tensors (adapters, δ, biases, head) against the network being trained (the backbone up to its features and the new head). pace-base is PACE's adapter without noise or consistency (σ = 0, λ = 0).",
    '',
    ...sections,
  ].join('\n');
  writeFileSync(outFile, md);
  if (!json) console.log(md);
}
