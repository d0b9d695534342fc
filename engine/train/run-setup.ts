/**
 * Setting a run up: run.json and split.json for a new run (or read back for a resume), then the backbone,
 * its new head and the prepared method (GPS selection runs here). Shared by training and export.
 */
import { applyOverrides, type DataOverrides } from '../data/overrides';
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import type { PreparedBackbone } from '../backbone/prepare';
import { loadBackbone, withNewHead, type LoadedBackbone } from '../backbone/load';
import { scanDataset } from '../data/scan';
import { loadSplit, saveSplit, splitDataset, splitItems, type DatasetSplit } from '../data/split';
import type { AugmentPreset } from '../data/image';
import { type Tensor } from '../ir/tensor';
import { getMethod } from '../methods/registry';
import type { Method, MethodOptions, PreparedMethod } from '../methods/method';
import type { ProviderRequest } from '../runtime/providers';
import { writeJsonAtomic } from '../util/fs';
import { defaultLoader, type BatchLoaderFactory } from './batches';
import { loadRunSpec, runFiles, saveRunSpec, type Hyper, type RunSpec } from './run-spec';

export interface TrainRequest {
  /** dataset folder (class subfolders, split folders, or the image root of a labels file) */
  data: string;
  labels?: string;
  columns?: { path?: string; label?: string; group?: string };
  /** reuse a saved split.json (compare methods on the same split) */
  splitFile?: string;
  ratios?: [number, number, number];
  model: string;
  feature?: string;
  method: string;
  methodOptions?: MethodOptions;
  epochs?: number;
  batch?: number;
  lr?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  labelSmoothing?: number;
  clipNorm?: number | null;
  optimizer?: 'adamw' | 'spd';
  spdLambda?: number;
  augment?: AugmentPreset;
  /** the user's corrections (left-out images, fixed labels), kept outside the data folder */
  overrides?: DataOverrides;
  seed?: number;
  provider?: ProviderRequest;
  stepsPerRun?: number;
  outDir: string;
}

export interface TrainOptions {
  signal?: AbortSignal;
  onEvent?: EventSink;
  loader?: BatchLoaderFactory;
  /** cache folder for scans (default: the data layer's) */
  scanCacheDir?: string;
}

/** Everything compiled for one run. */
export interface RunContext {
  spec: RunSpec;
  split: DatasetSplit;
  backbone: LoadedBackbone;
  prepared: PreparedBackbone;
  method: Method;
  methodPrepared: PreparedMethod;
  items: Record<'train' | 'val' | 'test', { file: string; label: number }[]>;
}

const hyperFrom = (req: TrainRequest, m: Method): Hyper => ({
  lr: req.lr ?? m.defaults.lr,
  epochs: req.epochs ?? m.defaults.epochs,
  batch: req.batch ?? m.defaults.batch,
  weightDecay: req.weightDecay ?? m.defaults.weightDecay,
  warmupEpochs: req.warmupEpochs ?? Math.min(m.defaults.warmupEpochs, Math.max(0, (req.epochs ?? m.defaults.epochs) - 1)),
  labelSmoothing: req.labelSmoothing ?? m.defaults.labelSmoothing,
  clipNorm: req.clipNorm === undefined ? m.defaults.clipNorm : req.clipNorm,
  optimizer: req.optimizer ?? 'adamw',
  spdLambda: req.spdLambda ?? 0.5,
});

/** Creates run.json and split.json for a new run, or reads them back for a resume. */
export async function openRun(req: TrainRequest, opts: TrainOptions): Promise<{ spec: RunSpec; split: DatasetSplit; resumed: boolean }> {
  const runDir = resolve(req.outDir);
  const files = runFiles(runDir);
  if (existsSync(files.spec)) {
    const spec = await loadRunSpec(runDir);
    const status = existsSync(files.status) ? (JSON.parse(await readFile(files.status, 'utf8')) as { state: string }).state : 'running';
    if (status === 'done')
      throw new AttuneError('run-finished', `${runDir} already holds a finished run.`, 'Choose a new --out folder, or export this run with `attune export`.');
    if (resolve(spec.data.root) !== resolve(req.data) || spec.method !== req.method)
      throw new AttuneError('run-mismatch', `${runDir} holds an unfinished run of "${spec.method}" on ${spec.data.root}, not this one.`, 'Resume it with the same --data and --method, or choose a new --out folder.');
    return { spec, split: await loadSplit(files.split), resumed: true };
  }
  const method = getMethod(req.method);
  const emit = opts.onEvent ?? (() => {});
  const report = await scanDataset(req.data, {
    labels: req.labels,
    columns: req.columns,
    cacheDir: opts.scanCacheDir,
    onEvent: emit,
  });
  const blocking = report.issues.filter((i) => i.severity === 'error');
  if (blocking.length)
    throw new AttuneError('dataset-invalid', `The dataset cannot be trained on: ${blocking.map((i) => i.message).join(' ')}`, 'Fix the folder (see `attune scan`) and try again.', { issues: blocking });
  for (const p of report.problems.filter((p) => p.excluded).slice(0, 20)) emit({ type: 'log', level: 'warn', message: `Skipping ${p.file}: ${p.message}` });
  const classes = report.classes.map((c) => c.name);
  const split = req.splitFile
    ? await loadSplit(req.splitFile, report).then((s) => ({ ...s, items: applyOverrides(s.items, req.overrides, s.classes) }))
    : splitDataset(applyOverrides(report.items, req.overrides, classes), { seed: req.seed ?? 0, ratios: req.ratios });
  const backbone = await loadBackbone(req.model, req.feature);
  const spec: RunSpec = {
    version: 1,
    data: { root: resolve(req.data), labels: req.labels, columns: req.columns, fingerprint: report.fingerprint },
    classes: split.classes,
    backbone: { path: resolve(req.model), sha256: backbone.sha256, feature: req.feature },
    preprocessing: backbone.preprocessing,
    augment: req.augment ?? 'natural',
    method: method.name,
    methodOptions: req.methodOptions ?? {},
    hyper: hyperFrom(req, method),
    seed: req.seed ?? 0,
    provider: req.provider ?? 'auto',
    stepsPerRun: req.stepsPerRun ?? 1,
    createdAt: new Date().toISOString(),
  };
  await mkdir(runDir, { recursive: true });
  await saveSplit(files.split, split);
  await saveRunSpec(runDir, spec);
  return { spec, split, resumed: false };
}

/** Loads the backbone, attaches the head and prepares the method (GPS selection runs here). */
export async function buildRunContext(spec: RunSpec, split: DatasetSplit, runDir: string, opts: TrainOptions, head?: { weight: Tensor; bias: Tensor }): Promise<RunContext> {
  const backbone = await loadBackbone(spec.backbone.path, spec.backbone.feature);
  if (backbone.sha256 !== spec.backbone.sha256)
    throw new AttuneError('backbone-changed', `The backbone file ${spec.backbone.path} has changed since this run started.`, 'Restore the original model file, or start a new run.');
  const prepared = withNewHead(backbone, spec.classes.length, spec.seed, head);
  const method = getMethod(spec.method);
  const items = {
    train: splitItems(split, spec.data.root, 'train'),
    val: splitItems(split, spec.data.root, 'val'),
    test: splitItems(split, spec.data.root, 'test'),
  };
  const files = runFiles(runDir);
  const savedState = existsSync(files.methodState) ? (JSON.parse(await readFile(files.methodState, 'utf8')) as Record<string, unknown>) : undefined;
  const loader = opts.loader ?? defaultLoader;
  const methodPrepared = await method.prepare(
    {
      backbone: prepared,
      options: { ...spec.methodOptions, weightDecay: spec.hyper.weightDecay },
      seed: spec.seed,
      batch: spec.hyper.batch,
      onEvent: opts.onEvent,
      signal: opts.signal,
      trainBatches: (views) => twoViewBatches(loader, items.train, spec, views),
    },
    savedState,
  );
  if (!savedState) await writeJsonAtomic(files.methodState, methodPrepared.state);
  return { spec, split, backbone, prepared, method, methodPrepared, items };
}

/** Training images with `views` independent augmentations each, stacked [view1 rows; view2 rows]. */
async function* twoViewBatches(loader: BatchLoaderFactory, items: { file: string; label: number }[], spec: RunSpec, views: 1 | 2): AsyncIterable<{ x: Float32Array; labels: Int32Array; count: number }> {
  for await (const bt of loader({ items, pre: spec.preprocessing, augment: 'natural', batchSize: spec.hyper.batch, seed: spec.seed, epoch: 0, shuffle: true, views })) {
    if (views === 1 || !bt.x2) {
      yield bt;
      continue;
    }
    const x = new Float32Array(bt.x.length * 2);
    x.set(bt.x);
    x.set(bt.x2, bt.x.length);
    const labels = new Int32Array(bt.count * 2);
    labels.set(bt.labels);
    labels.set(bt.labels, bt.count);
    yield { x, labels, count: bt.count * 2 };
  }
}

