/**
 * Setting a run up: run.json and split.json for a new run (or read back for a resume), then the backbone,
 * its new head and the prepared method (GPS selection runs here). Shared by training and export.
 */
import { applyOverrides, hasOverrides, type DataOverrides } from '../data/overrides';
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import type { PreparedBackbone } from '../backbone/prepare';
import { loadBackbone, withNewHead, type LoadedBackbone } from '../backbone/load';
import { assertTrainable, scanDataset } from '../data/scan';
import type { ScanReport } from '../data/types';
import {
  checkBandSelection,
  fitBandScaling,
  SENTINEL2_PRESETS,
  SENTINEL2_REFLECTANCE_SCALE,
  type BandSelection,
} from '../data/bands';
import { readRaster } from '../data/geotiff';
import { readVoiValues } from '../data/source';
import { percentileRange } from '../data/values';
import { inputChannels, type ValueMapping, type VoiRule } from '../preprocessing';
import { widenBackbone } from '../backbone/widen-input';
import { trainWidenedInput } from '../methods/widened-input';
import { loadSplit, saveSplit, splitDataset, splitItems, type DatasetSplit } from '../data/split';
import type { AugmentOptions, AugmentPreset } from '../data/image';
import { type Tensor } from '../ir/tensor';
import { getMethod } from '../methods/registry';
import type { Method, MethodOptions, PreparedMethod } from '../methods/method';
import type { ProviderRequest } from '../runtime/providers';
import { writeJsonAtomic } from '../util/fs';
import { defaultLoader, type BatchLoaderFactory } from '../data/loader';
import { loadRunSpec, runFiles, saveRunSpec, type BalanceMode, type Hyper, type RunSpec, type SelectBy } from './spec';

/**
 * A run as the engine sets it up: the façade's TrainRequest (engine/api.ts, what the app and `attune train` send)
 * with the window and bands parsed and the names of run.json. Sweeps and tests build it directly.
 */
export interface RunRequest {
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
  /** VOI rule for DICOM and 16-bit images (default: the DICOM file's window, else per-image percentiles) */
  window?: VoiRule;
  /** subtracted from 16-bit PNG/TIFF values before the window (32768 for HU + 32768 data) */
  valueOffset?: number;
  /** multi-frame DICOM: the middle frame of each file (default) or every frame as its own sample, grouped by file */
  frames?: 'middle' | 'all';
  /** multispectral images: three bands onto RGB, or all bands (first conv widened); default Sentinel-2 true colour */
  bands?: BandSelection;
  /** the user's corrections (left-out images, fixed labels), kept outside the data folder */
  overrides?: DataOverrides;
  seed?: number;
  provider?: ProviderRequest;
  stepsPerRun?: number;
  /** class imbalance: none (default), class-weighted loss, or class-balanced sampling */
  balance?: BalanceMode;
  /** the validation figure that picks the best epoch (default balanced accuracy) */
  selectBy?: SelectBy;
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

/** The run's hyper-parameters: the request's, else the method's defaults (METHODS.md). */
export const hyperFrom = (req: Partial<RunRequest>, m: Method): Hyper => ({
  lr: req.lr ?? m.defaults.lr,
  epochs: req.epochs ?? m.defaults.epochs,
  batch: req.batch ?? m.defaults.batch,
  weightDecay: req.weightDecay ?? m.defaults.weightDecay,
  warmupEpochs:
    req.warmupEpochs ?? Math.min(m.defaults.warmupEpochs, Math.max(0, (req.epochs ?? m.defaults.epochs) - 1)),
  labelSmoothing: req.labelSmoothing ?? m.defaults.labelSmoothing,
  clipNorm: req.clipNorm === undefined ? m.defaults.clipNorm : req.clipNorm,
  optimizer: req.optimizer ?? m.optimizer ?? 'adamw',
  spdLambda: req.spdLambda ?? 0.5,
});

/** Creates run.json and split.json for a new run, or reads them back for a resume. */
export async function openRun(
  req: RunRequest,
  opts: TrainOptions,
): Promise<{ spec: RunSpec; split: DatasetSplit; resumed: boolean }> {
  const runDir = resolve(req.outDir);
  const files = runFiles(runDir);
  if (existsSync(files.spec)) {
    const spec = await loadRunSpec(runDir);
    const status = existsSync(files.status)
      ? (JSON.parse(await readFile(files.status, 'utf8')) as { state: string }).state
      : 'running';
    if (status === 'done')
      throw new AttuneError(
        'run-finished',
        `${runDir} already holds a finished run.`,
        'Choose a new --out folder, or export this run with `attune export`.',
      );
    if (resolve(spec.data.root) !== resolve(req.data) || spec.method !== req.method)
      throw new AttuneError(
        'run-mismatch',
        `${runDir} holds an unfinished run of "${spec.method}" on ${spec.data.root}, not this one.`,
        'Resume it with the same --data and --method, or choose a new --out folder.',
      );
    return { spec, split: await loadSplit(files.split), resumed: true };
  }
  const method = getMethod(req.method);
  const emit = opts.onEvent ?? (() => {});
  const report = await scanDataset(req.data, {
    labels: req.labels,
    columns: req.columns,
    frames: req.frames,
    cacheDir: opts.scanCacheDir,
    onEvent: emit,
  });
  assertTrainable(report);
  for (const p of report.problems.filter((p) => p.excluded).slice(0, 20))
    emit({ type: 'log', level: 'warn', message: `Skipping ${p.file}: ${p.message}` });
  const classes = report.classes.map((c) => c.name);
  const split = req.splitFile
    ? await loadSplit(req.splitFile, report).then((s) => ({
        ...s,
        items: applyOverrides(s.items, req.overrides, s.classes),
      }))
    : splitDataset(applyOverrides(report.items, req.overrides, classes), { seed: req.seed ?? 0, ratios: req.ratios });
  const backbone = await loadBackbone(req.model, req.feature);
  const values = await valueMapping(req, report, split, backbone.preprocessing.values, emit);
  const spec: RunSpec = {
    version: 1,
    data: {
      root: resolve(req.data),
      labels: req.labels,
      columns: req.columns,
      fingerprint: report.fingerprint,
      ...(req.frames === 'all' ? { frames: 'all' as const } : {}),
      ...(hasOverrides(req.overrides) ? { overrides: req.overrides } : {}),
    },
    classes: split.classes,
    backbone: { path: resolve(req.model), sha256: backbone.sha256, feature: req.feature },
    preprocessing: { ...backbone.preprocessing, values },
    augment: req.augment ?? 'natural',
    method: method.name,
    methodOptions: req.methodOptions ?? {},
    hyper: hyperFrom(req, method),
    seed: req.seed ?? 0,
    provider: req.provider ?? 'auto',
    stepsPerRun: req.stepsPerRun ?? 1,
    balance: req.balance ?? 'none',
    selectBy: req.selectBy ?? 'balanced-accuracy',
    createdAt: new Date().toISOString(),
  };
  await mkdir(runDir, { recursive: true });
  await saveSplit(files.split, split);
  await saveRunSpec(runDir, spec);
  return { spec, split, resumed: false };
}

/**
 * The value mapping of a new run: the request's window and offset; for multispectral data the band
 * selection and its per-band scaling, fitted on the training split only (val/test must not leak into it).
 */
async function valueMapping(
  req: RunRequest,
  report: ScanReport,
  split: DatasetSplit,
  base: ValueMapping,
  emit: EventSink,
): Promise<ValueMapping> {
  const values: ValueMapping = {
    ...base,
    ...(req.window ? { voi: req.window } : {}),
    offset: req.valueOffset ?? base.offset,
  };
  if (values.voi.kind === 'percentile' && values.voi.scope === 'dataset' && !values.voi.fitted) {
    const { low, high } = values.voi;
    const fitted = await fitPercentiles(
      splitItems(split, report.root, 'train').map((i) => i.file),
      values,
      low,
      high,
    );
    if (fitted) {
      values.voi = { ...values.voi, fitted };
      const message = `Window from the training images' ${low}–${high} percentiles: ${fitted.lo.toFixed(1)} to ${fitted.hi.toFixed(1)}.`;
      emit({ type: 'log', level: 'info', message });
    }
  }
  if (!report.bands) {
    if (req.bands)
      throw new AttuneError(
        'usage',
        'The dataset has no multispectral images; --bands does not apply.',
        'Leave the band choice out (attune train: drop --bands).',
      );
    return values;
  }
  const bandCount = report.bands.bands;
  const sentinel2 = report.bands.sentinel2;
  const trueColour: BandSelection = { mode: 'map', bands: [...SENTINEL2_PRESETS['true-colour']] };
  const selection: BandSelection = req.bands ?? (sentinel2 ? trueColour : undefined) ?? noBands(bandCount);
  checkBandSelection(selection, bandCount);
  const train = splitItems(split, report.root, 'train');
  emit({
    type: 'log',
    level: 'info',
    message: `Fitting the band scaling on ${train.length} training images (${bandCount} bands).`,
  });
  async function* rasters() {
    for (const it of train) yield { ...(await readRaster(it.file, { expectBands: bandCount })), file: it.file };
  }
  const valueScale = sentinel2 ? SENTINEL2_REFLECTANCE_SCALE : 1;
  const scaling = await fitBandScaling(rasters(), { valueScale, seed: req.seed ?? 0 });
  return { ...values, bands: { selection, bandCount, scaling } };
}

/** Percentiles of the training images' values pooled (at most 40 images, ~4 M samples), or undefined for 8-bit data. */
async function fitPercentiles(
  files: string[],
  values: ValueMapping,
  low: number,
  high: number,
): Promise<{ lo: number; hi: number } | undefined> {
  const pick = files.filter((_, i) => i % Math.max(1, Math.ceil(files.length / 40)) === 0);
  const parts: Float32Array[] = [];
  for (const f of pick) {
    const v = await readVoiValues(f, values).catch(() => undefined);
    if (!v) continue;
    const step = Math.max(1, Math.floor(v.length / 100_000));
    parts.push(step === 1 ? v : v.filter((_, i) => i % step === 0));
  }
  if (!parts.length) return undefined;
  const pooled = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    pooled.set(p, o);
    o += p.length;
  }
  const [lo, hi] = percentileRange(pooled, low, high);
  return { lo, hi };
}

function noBands(bandCount: number): never {
  throw new AttuneError(
    'bands-required',
    `The images have ${bandCount} bands; choose how they feed the model.`,
    'Choose the bands on the Data screen: three for red, green and blue, or all of them (the first convolution is widened). attune train: --bands R,G,B (1-based band numbers) or --bands all.',
  );
}

/**
 * The backbone with its first convolution taking `channels` inputs, for all bands of a multispectral image
 * (deterministic, so resumes match); a Sentinel-2 image's red, green and blue are its bands 4, 3 and 2.
 */
export async function widenedFor(
  loaded: LoadedBackbone,
  channels: number,
  bandCount?: number,
): Promise<LoadedBackbone> {
  if (channels === 3) return loaded;
  const rgbBands: [number, number, number] = bandCount === 13 ? [...SENTINEL2_PRESETS['true-colour']] : [1, 2, 3];
  return widenBackbone(loaded, channels, { rgbBands });
}

/** Loads the backbone, attaches the head and prepares the method (GPS selection runs here). */
export async function buildRunContext(
  spec: RunSpec,
  split: DatasetSplit,
  runDir: string,
  opts: TrainOptions,
  head?: { weight: Tensor; bias: Tensor },
): Promise<RunContext> {
  const loaded = await loadBackbone(spec.backbone.path, spec.backbone.feature);
  if (loaded.sha256 !== spec.backbone.sha256)
    throw new AttuneError(
      'backbone-changed',
      `The backbone file ${spec.backbone.path} has changed since this run started.`,
      'Restore the original model file, or start a new run.',
    );
  const backbone = await widenedFor(
    loaded,
    inputChannels(spec.preprocessing),
    spec.preprocessing.values.bands?.bandCount,
  );
  const prepared = withNewHead(backbone, spec.classes.length, spec.seed, head);
  const method = getMethod(spec.method);
  const items = {
    train: splitItems(split, spec.data.root, 'train'),
    val: splitItems(split, spec.data.root, 'val'),
    test: splitItems(split, spec.data.root, 'test'),
  };
  const files = runFiles(runDir);
  const savedState = existsSync(files.methodState)
    ? (JSON.parse(await readFile(files.methodState, 'utf8')) as Record<string, unknown>)
    : undefined;
  const loader = opts.loader ?? defaultLoader;
  const methodPrepared0 = await method.prepare(
    {
      backbone: prepared,
      options: { ...spec.methodOptions, weightDecay: spec.hyper.weightDecay },
      seed: spec.seed,
      batch: spec.hyper.batch,
      onEvent: opts.onEvent,
      signal: opts.signal,
      trainBatches: (views, augment) => twoViewBatches(loader, items.train, spec, views, augment),
    },
    savedState,
  );
  const methodPrepared = trainWidenedInput(method, methodPrepared0, prepared, spec.hyper.weightDecay);
  if (!savedState) await writeJsonAtomic(files.methodState, methodPrepared.state);
  return { spec, split, backbone, prepared, method, methodPrepared, items };
}

/** Training images with `views` independent augmentations each (per the method), stacked [view1 rows; view2 rows]. */
async function* twoViewBatches(
  loader: BatchLoaderFactory,
  items: { file: string; label: number }[],
  spec: RunSpec,
  views: 1 | 2,
  augment: AugmentOptions,
): AsyncIterable<{ x: Float32Array; labels: Int32Array; count: number }> {
  for await (const bt of loader({
    items,
    pre: spec.preprocessing,
    augment,
    batchSize: spec.hyper.batch,
    seed: spec.seed,
    epoch: 0,
    shuffle: true,
    views,
  })) {
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
