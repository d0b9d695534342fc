/**
 * The engine's façade: one function per capability, plain JSON-serialisable inputs and outputs (they cross the
 * app's utility-process boundary). The app (through main/jobs/engine-bridge.ts) and the CLI (engine/cli) both call
 * the engine here and only here: `attune train` sends the same TrainRequest as the app, `attune export` and
 * `attune predict` get the same results as Export and "Try it", and `attune sweep` runs the sweeps below.
 */
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AttuneError } from './errors';
import type { EngineEvent } from './events';
import { formatWindow, parseWindow, type Preprocessing } from './preprocessing';
import { formatBandSelection, parseBandSelection } from './data/bands';
import { previewDataUrl } from './data/preview';
import { loadBackbone, withNewHead } from './backbone/load';
import { unsupportedOps } from './autodiff/differentiate';
import { weightStats } from './backbone/weight-stats';
import { IMBALANCE_RATIO, scanDataset as scanFolder } from './data/scan';
import type { ScanReport as EngineScanReport } from './data/types';
import type { EvaluationReport as EngineEvaluation } from './evaluate/metrics';
import { calibratedClassifier, exportRun as exportEngineRun, fitOperatingPoint } from './export/export';
import type { SavedEvaluation } from './export/model-card';
import type { Estimate } from './evaluate/intervals';
import type { CoveragePoint, OperatingPoint, RocPoint } from './evaluate/roc';
import { roughWarning } from './evaluate/summary';
import { explainFiles, type Explanation } from './explain/explain';
import type { BalanceMode, SelectBy } from './run/spec';
import { METHODS } from './methods/registry';
import { parameterCount } from './ir/parameters';
import { forwardImagesPerSecond, secondsPerEpoch } from './methods/cost';
import type { Method, MethodOptions } from './methods/method';
import type { AugmentPreset } from './data/image';
import type { CalibrationSummary } from './evaluate/calibration';
import { deviceBatch, recommendMethod, type Recommendation } from './methods/recommend';
import {
  predictFiles,
  readClassifier,
  type Prediction as EnginePrediction,
  type PredictOptions,
} from './predict/predict';
import { applyGpsPatch } from './export/apply-gps-patch';
import { saveModel } from './onnx/io';
import { platformInfo } from './runtime/session';
import { planProviders, type ProviderRequest } from './runtime/providers';
import { loadRunSpec, runFiles } from './run/spec';
import { trainRun as trainEngineRun } from './train/trainer';
import { estimateRunMemory, type MemoryEstimate, type MemoryEstimateRequest } from './run/memory-estimate';
import { runInProcess } from './sweep/in-process';
import { runRace, type RaceResult } from './sweep/race';
import { validateSweepSpec } from './sweep/spec';
import { holdsOtherSweep, openSweep } from './sweep/sweep';
import { hasOverrides } from './data/overrides';
import { writeResults } from './sweep/results';
import { PROPORTION, summarizeValues, type Summary } from './sweep/stats';
import { trialDir } from './sweep/job';

export type {
  MemoryEstimate,
  MemoryEstimateRequest,
  EngineEvent,
  Preprocessing,
  Estimate,
  OperatingPoint,
  CoveragePoint,
  RocPoint,
  Explanation,
  BalanceMode,
  SelectBy,
};

// ---------- scan ----------

export interface ScanReport {
  root: string;
  total: number;
  classes: { name: string; count: number; examples?: string[] }[];
  layout: string;
  fingerprint: string | null;
  imageSummary: string | null;
  splits: Record<string, number> | null;
  problems: { file: string; kind: string; message: string; excluded: boolean }[];
  issues: { severity: 'error' | 'warning'; kind: string; message: string; class?: string }[];
  /** split groups (patients for DICOM): each stays on one side of the split */
  groups: number;
  /** DICOM and multispectral summaries, counts only (no identifiers) */
  dicom?: EngineScanReport['dicom'];
  bands?: EngineScanReport['bands'];
  /** images of more than 8 bits that are not DICOM (16-bit PNG/TIFF): they take a window and a value offset */
  deepImages: number;
  /** largest/smallest class ratio, and the balancing the app proposes from 3:1 (null below) */
  imbalance: { ratio: number; proposedBalance: BalanceMode | null; message: string | null };
  /** patient / group ids (CSV group column, DICOM patient): each stays within one split. Shown locally only. */
  groupIds?: { count: number; ids: { id: string; images: number }[] } | null;
}

/** Patient/group ids with their image counts (the first 500), so the user can check the grouping. */
function summariseGroups(r: EngineScanReport): ScanReport['groupIds'] {
  const counts = new Map<string, number>();
  for (const it of r.items) if (it.group) counts.set(it.group, (counts.get(it.group) ?? 0) + 1);
  if (!counts.size) return null;
  const ids = [...counts]
    .map(([id, images]) => ({ id, images }))
    .sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return { count: counts.size, ids: ids.slice(0, 500) };
}

function imbalanceOf(classes: { count: number }[]): ScanReport['imbalance'] {
  const counts = classes.map((c) => c.count).filter((n) => n > 0);
  const ratio = counts.length > 1 ? Math.max(...counts) / Math.min(...counts) : 1;
  // from the ratio the scan reports as imbalance (3:1), the app proposes class balancing
  if (ratio < IMBALANCE_RATIO) return { ratio, proposedBalance: null, message: null };
  return {
    ratio,
    proposedBalance: 'weights',
    message: `The largest class has ${ratio.toFixed(1)}× the images of the smallest. Training with class-weighted loss (or class-balanced sampling) keeps the model from favouring the large class; the best epoch is chosen by balanced accuracy.`,
  };
}

/** One line from the scan's own image summary: formats with counts, then the size (or the range of sizes). */
function summariseImages(r: EngineScanReport): string | null {
  if (!r.items.length) return null;
  const { formats, commonSizes, width, height } = r.images;
  const fmt = Object.entries(formats)
    .map(([f, n]) => `${n} ${f.toUpperCase()}`)
    .join(', ');
  const size =
    commonSizes.length === 1
      ? `${width.min}×${height.min}`
      : `${width.min}–${width.max} × ${height.min}–${height.max} pixels`;
  return `${fmt}; ${size}`;
}

/** How to scan a folder, for the app and `attune scan` alike. */
export interface ScanRequest {
  /** labels file (CSV), and its column names when they are not the defaults */
  csvPath?: string;
  columns?: { path?: string; label?: string; group?: string };
  /** multi-frame DICOM: the middle frame of each file (default) or every frame as its own sample */
  frames?: 'middle' | 'all';
  /** false: always rescan; `cacheDir`: where cached scans live (outside the dataset) */
  cache?: boolean;
  cacheDir?: string;
}

/** The engine's full scan report (every image, its size and format): what `attune scan` prints. */
export function scanFolderReport(
  path: string,
  opts: ScanRequest = {},
  onEvent?: (e: EngineEvent) => void,
): Promise<EngineScanReport> {
  const { csvPath, ...rest } = opts;
  return scanFolder(path, { labels: csvPath, ...rest, onEvent });
}

/** The app's view of a scan: counts, examples, problems, imbalance and group ids. */
export async function scanDataset(
  path: string,
  opts: ScanRequest = {},
  onEvent?: (e: EngineEvent) => void,
): Promise<ScanReport> {
  const r = await scanFolderReport(path, opts, onEvent);
  const examples = new Map<string, string[]>();
  for (const it of r.items) {
    const list = examples.get(it.label) ?? [];
    if (list.length < 4) list.push(join(r.root, it.file));
    examples.set(it.label, list);
  }
  const splits: Record<string, number> = {};
  for (const it of r.items) if (it.split) splits[it.split] = (splits[it.split] ?? 0) + 1;
  return {
    root: r.root,
    total: r.total,
    classes: r.classes.map((c) => ({ name: c.name, count: c.count, examples: examples.get(c.name) ?? [] })),
    layout: r.layout.kind,
    fingerprint: r.fingerprint,
    imageSummary: summariseImages(r),
    splits: Object.keys(splits).length ? splits : null,
    problems: r.problems.map((p) => ({ file: p.file, kind: p.kind, message: p.message, excluded: p.excluded })),
    issues: r.issues.map((i) => ({ severity: i.severity, kind: i.kind, message: i.message, class: i.class })),
    groups: r.groups,
    ...(r.dicom ? { dicom: r.dicom } : {}),
    ...(r.bands ? { bands: r.bands } : {}),
    deepImages: r.items.filter((i) => i.bitDepth > 8 && !i.dicom && !i.raster).length,
    imbalance: imbalanceOf(r.classes),
    groupIds: summariseGroups(r),
  };
}

// ---------- backbone ----------

export interface BackboneInfo {
  modelPath: string;
  ok: boolean;
  featureTensor: string | null;
  featureDim: number | null;
  unsupportedOps: string[];
  inputSize: number | null;
  preprocessing: Preprocessing | null;
  parameterCount: number;
  /** from its weight statistics (engine/backbone/weight-stats.ts); null when it cannot be told */
  pretrained: boolean | null;
  notes: string[];
}

/** Compatibility check: feature tensor, ops every method can train through, input size, preprocessing. */
export async function inspectBackbone(modelPath: string): Promise<BackboneInfo> {
  try {
    const bb = await loadBackbone(modelPath);
    const unsupported = unsupportedOps(bb.model.graph);
    const notes = [`Features: ${bb.features.description} (${bb.featureDim} values per image).`];
    if (unsupported.length)
      notes.push(`Only the linear probe can train this model: Attune cannot differentiate ${unsupported.join(', ')}.`);
    const { looksPretrained: pretrained } = weightStats(bb.model.graph.initializers.values());
    if (pretrained === false) {
      notes.unshift(
        'Its weights look randomly initialised, not pretrained: it has learned nothing yet, so fine-tuning starts from scratch and needs far more images. Use a pretrained model from the catalogue unless this is intended.',
      );
    }
    return {
      modelPath,
      ok: true,
      featureTensor: bb.features.source,
      featureDim: bb.featureDim,
      unsupportedOps: unsupported,
      inputSize: bb.inputSize,
      preprocessing: bb.preprocessing,
      parameterCount: bb.parameterCount,
      pretrained,
      notes,
    };
  } catch (e) {
    const msg = e instanceof AttuneError ? `${e.message} ${e.hint}` : (e as Error).message;
    return {
      modelPath,
      ok: false,
      featureTensor: null,
      featureDim: null,
      unsupportedOps: [],
      inputSize: null,
      preprocessing: null,
      parameterCount: 0,
      pretrained: null,
      notes: [msg],
    };
  }
}

// ---------- methods ----------

export interface MethodInfo {
  name: string;
  title: string;
  /** what the method does (mechanism, not a promise of accuracy) */
  summary: string;
  /** the paper's result, stated as the paper's; absent for methods METHODS.md quotes no result for */
  paper?: string;
  /** when the method needs a long schedule to pay off, and how long its paper trained */
  schedule?: string;
  /** share of the network's parameters that train (counted on the chosen backbone with its new head) */
  trainableShare: number | null;
  /** estimated seconds per epoch on this machine's CPU (see `costBasis`) */
  secondsPerEpoch: number | null;
  /** how `secondsPerEpoch` was obtained, in one sentence */
  costBasis?: string;
  /** files an export writes besides model.onnx, labels.txt and the model card (GPS: its sparse patch) */
  exports: { file: string; description: string }[];
  /** once per run before the first epoch: the linear probe's feature pass (its epochs then train on cached features) */
  setupSeconds: number | null;
  recommended: boolean;
  why?: string;
  defaults: { epochs: number; batchSize: number; learningRate: number } & Record<string, number>;
  /** plain-language label of each method option in `defaults`, e.g. k → "weights selected per neuron (K)" */
  optionLabels: Record<string, string>;
}

export interface MethodListing {
  device: string;
  methods: MethodInfo[];
  recommendation: { name: string; why: string; alternative?: { name: string; why: string } } | null;
  /** the last method race on this data (ctx.raceDir), which replaces the fixed recommendation text */
  race?: RaceSummary;
}

/** Forward speed measured once per backbone file on this machine (the model check's file, so a few per session). */
const forwardRates = new Map<string, Promise<number>>();

export async function listMethods(
  ctx: { modelPath?: string; trainCount?: number; numClasses?: number; raceDir?: string } = {},
): Promise<MethodListing> {
  const plan = planProviders('auto', platformInfo());
  const device = plan.order[0] === 'cpu' ? 'CPU' : plan.order[0].toUpperCase();
  const race = ctx.raceDir ? await readRaceSummary(ctx.raceDir) : undefined;
  const fixed =
    ctx.trainCount !== undefined ? recommendMethod(ctx.trainCount, { hasAccelerator: device !== 'CPU' }) : null;
  // a race on this data beats the rule of thumb; the rule of thumb stays as the alternative
  const rec: Recommendation | null = race?.winnerMethod
    ? {
        size: fixed?.size ?? 'small',
        method: race.winnerMethod,
        options: {},
        hyper: { epochs: race.budgetEpochs },
        reason: raceReason(race),
        alternative:
          fixed && fixed.method !== race.winnerMethod
            ? { method: fixed.method, reason: fixed.reason }
            : { method: 'linear', reason: 'The fastest baseline: trains in seconds on cached features.' },
      }
    : fixed;
  const bb = ctx.modelPath && existsSync(ctx.modelPath) ? await loadBackbone(ctx.modelPath) : undefined;
  const graph = bb ? withNewHead(bb, ctx.numClasses ?? 2, 0).model.graph : undefined;
  const total = graph ? parameterCount(graph) : 0;
  let forwardRate: number | undefined;
  if (bb && ctx.trainCount && device === 'CPU') {
    const key = `${bb.path}:${bb.sha256}`;
    if (!forwardRates.has(key)) forwardRates.set(key, forwardImagesPerSecond(bb.model));
    forwardRate = await forwardRates.get(key)!;
  }
  return {
    device,
    methods: METHODS.map((m) => ({
      name: m.name,
      title: m.title,
      summary: m.summary,
      paper: m.card.paper,
      schedule: m.card.schedule,
      trainableShare: graph ? m.trainableParameters(graph, {}) / total : null,
      ...timeEstimate(
        m,
        forwardRate && ctx.trainCount ? secondsPerEpoch(ctx.trainCount, m.relativeCost, forwardRate) : null,
      ),
      costBasis: forwardRate
        ? `Estimate: a forward pass of this backbone measured on this machine (${forwardRate.toFixed(1)} images/s) times ${m.relativeCost} forward-pass equivalents per image, this method's cost relative to a forward pass in Attune's training benchmark.`
        : undefined,
      exports: m.exports ?? [],
      recommended: rec?.method === m.name,
      why: rec?.method === m.name ? rec.reason : undefined,
      // numeric method options (LoRA rank, GPS K, PACE σ and λ, …) by the names trainRun's `options` takes
      optionLabels: Object.fromEntries(m.options.map((o) => [o.name, o.description])),
      defaults: cardDefaults(m, rec, device !== 'CPU'),
    })),
    recommendation: rec
      ? {
          name: rec.method,
          why: rec.reason,
          alternative: { name: rec.alternative.method, why: rec.alternative.reason },
        }
      : null,
    ...(race ? { race } : {}),
  };
}

/**
 * The method's estimated cost split into what runs once and what runs every epoch: the linear probe (cached
 * features) spends its forward-pass cost once on the feature pass; its epochs train a head on them in seconds.
 */
function timeEstimate(m: Method, seconds: number | null): Pick<MethodInfo, 'secondsPerEpoch' | 'setupSeconds'> {
  if (seconds === null) return { secondsPerEpoch: null, setupSeconds: null };
  return m.cachedFeatures
    ? { secondsPerEpoch: 0, setupSeconds: seconds }
    : { secondsPerEpoch: seconds, setupSeconds: 0 };
}

/**
 * What the app pre-fills for a method: its METHODS.md defaults, with a batch that fits the device's memory;
 * for the recommended method, the recommendation's preset (epochs, batch, learning rate, options) on top.
 */
function cardDefaults(m: Method, rec: Recommendation | null, hasAccelerator: boolean): MethodInfo['defaults'] {
  const options = Object.fromEntries(
    m.options.filter((o) => typeof o.default === 'number').map((o) => [o.name, o.default as number]),
  );
  const base = {
    ...options,
    epochs: m.defaults.epochs,
    batchSize: deviceBatch(m.name, m.defaults.batch, hasAccelerator),
    learningRate: m.defaults.lr,
  };
  if (rec?.method !== m.name) return base;
  const preset = Object.fromEntries(
    Object.entries(rec.options).filter((e): e is [string, number] => typeof e[1] === 'number' && e[0] in options),
  );
  return {
    ...base,
    ...preset,
    epochs: rec.hyper.epochs ?? base.epochs,
    batchSize: rec.hyper.batch ?? base.batchSize,
    learningRate: rec.hyper.lr ?? base.learningRate,
  };
}

/**
 * How much memory a run of this backbone, method, options and batch would need on this computer's CPU, against what
 * is free now, before the run starts (the Method screen); cached per backbone file, method and options, so a new
 * batch answers at once.
 */
export const estimateMemory = (r: MemoryEstimateRequest): Promise<MemoryEstimate> => estimateRunMemory(r);

// ---------- train, evaluate, export, predict ----------

/**
 * The one request to train (or resume) a run, used by the app and by `attune train`: everything but the data,
 * model, method and output folder is optional and falls back to the method's defaults (METHODS.md).
 */
export interface TrainRequest {
  dataPath: string;
  /** labels file (CSV), and its column names when they are not the defaults */
  csvPath?: string;
  columns?: { path?: string; label?: string; group?: string };
  modelPath: string;
  /** the backbone tensor to train on (default: found from the graph) */
  feature?: string;
  method: string;
  /** method options by name (LoRA rank, GPS k, PACE σ and λ, …) */
  options?: MethodOptions;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  labelSmoothing?: number;
  /** gradient clipping norm; null: none */
  clipNorm?: number | null;
  optimizer?: 'adamw' | 'spd';
  spdLambda?: number;
  seed?: number;
  outDir: string;
  provider?: string;
  /** shares of the images held out (train gets the rest, or `trainFraction` when given); default 80/10/10 */
  split?: { valFraction: number; testFraction: number; trainFraction?: number; seed?: number };
  /** training image variations; default 'natural' (photos). 'medical': mild rotation and zoom, horizontal flip */
  augment?: AugmentPreset;
  /** images to leave out and labels to correct (paths relative to dataPath, '/'-separated) */
  overrides?: { exclude?: string[]; relabel?: Record<string, string> };
  resumeFrom?: string;
  splitFile?: string;
  scanCacheDir?: string;
  /** DICOM/16-bit window (the --window forms, e.g. 'lung', '40,400'); default each file's own */
  window?: string;
  /** subtracted from 16-bit PNG/TIFF values before the window (32768 for HU + 32768 data) */
  valueOffset?: number;
  /** multispectral bands ('4,3,2' or 'all') */
  bands?: string;
  /** multi-frame DICOM: the middle frame of each file (default) or every frame as its own sample */
  frames?: 'middle' | 'all';
  /** training steps compiled into one session run */
  stepsPerRun?: number;
  /** class imbalance: none (default), class-weighted loss, or class-balanced sampling */
  balance?: BalanceMode;
  /** the validation figure that picks the best epoch (default balanced accuracy) */
  selectBy?: SelectBy;
}

export interface TrainResult {
  runDir: string;
  status: 'done' | 'cancelled';
  provider?: string;
  bestEpoch?: number;
  bestValAccuracy?: number;
  testAccuracy?: number;
  selectedBy?: SelectBy;
  /** temperature scaling fitted on val, and the test evaluation (what `attune train` prints) */
  calibration?: CalibrationSummary;
  test?: EngineEvaluation;
}

/** Trains, or resumes when `resumeFrom` (or `outDir`) holds an unfinished run. */
export async function trainRun(
  r: TrainRequest,
  opts: { signal?: AbortSignal; onEvent?: (e: EngineEvent) => void } = {},
): Promise<TrainResult> {
  const s = r.split;
  const res = await trainEngineRun(
    {
      data: r.dataPath,
      labels: r.csvPath,
      columns: r.columns,
      model: r.modelPath,
      feature: r.feature,
      method: r.method,
      methodOptions: r.options,
      epochs: r.epochs,
      batch: r.batchSize,
      lr: r.learningRate,
      weightDecay: r.weightDecay,
      warmupEpochs: r.warmupEpochs,
      labelSmoothing: r.labelSmoothing,
      clipNorm: r.clipNorm,
      optimizer: r.optimizer,
      spdLambda: r.spdLambda,
      seed: r.seed,
      outDir: r.resumeFrom ?? r.outDir,
      provider: r.provider as ProviderRequest | undefined,
      ratios: s ? [s.trainFraction ?? 1 - s.valFraction - s.testFraction, s.valFraction, s.testFraction] : undefined,
      splitFile: r.splitFile,
      ...(r.window ? { window: parseWindow(r.window) } : {}),
      ...(r.valueOffset !== undefined ? { valueOffset: r.valueOffset } : {}),
      ...(r.bands ? { bands: parseBandSelection(r.bands) } : {}),
      frames: r.frames,
      stepsPerRun: r.stepsPerRun,
      balance: r.balance,
      selectBy: r.selectBy,
      augment: r.augment,
      overrides: r.overrides,
    },
    { signal: opts.signal, onEvent: opts.onEvent, scanCacheDir: r.scanCacheDir },
  );
  return {
    runDir: res.runDir,
    status: res.status,
    provider: res.provider,
    bestEpoch: res.bestEpoch,
    bestValAccuracy: res.bestValAccuracy,
    testAccuracy: res.test?.accuracy,
    selectedBy: res.selectedBy,
    calibration: res.calibration,
    test: res.test,
  };
}

type Bins = { lower: number; upper: number; confidence: number; accuracy: number; count: number }[];

// ---------- method race ----------

export interface RaceRequest {
  dataPath: string;
  csvPath?: string;
  /** the CSV's path, label and group columns (default: recognised by name) */
  columns?: { path?: string; label?: string; group?: string };
  modelPath: string;
  /** candidate methods (default: linear, full, spd, lora, gps, bitfit) */
  methods?: string[];
  /** full budget in epochs of the winner (default 9); rungs train 1/3, 1/9, … of it */
  epochs?: number;
  seeds?: number[];
  batchSize?: number;
  split?: { valFraction: number; testFraction: number };
  provider?: string;
  /** the project's value mapping, in the CLI's forms (--window, --bands) */
  window?: string;
  bands?: string;
  /** multi-frame DICOM: every frame its own sample (default: each file's middle frame) */
  frames?: 'middle' | 'all';
  /** subtracted from 16-bit PNG/TIFF values before the window */
  valueOffset?: number;
  balance?: BalanceMode;
  /** the user's corrections: every trial's split leaves out and relabels these images */
  overrides?: { exclude?: string[]; relabel?: Record<string, string> };
  /** outDir holds a race of other settings (data, model, methods, corrections…): start afresh instead of refusing */
  replaceDifferent?: boolean;
  outDir: string;
}

export interface RaceSummary {
  dir: string;
  winner: string | null;
  winnerMethod: string | null;
  budgetEpochs: number;
  /** the winner's test accuracy over its seeds: mean and 95 % t-interval (null with one seed) */
  testAccuracy: { mean: number; ci95: [number, number] | null; n: number } | null;
  rungs: { epochs: number; candidates: { name: string; valAccuracy: number; kept: boolean }[] }[];
}

/** Race candidates are plain method names (SPD is a method of its own), so the winner's name is its method. */
const raceSummary = (dir: string, r: RaceResult): RaceSummary => ({
  dir,
  winner: r.winner ?? null,
  winnerMethod: r.winner ?? null,
  budgetEpochs: r.budgetEpochs,
  testAccuracy: r.result
    ? { mean: r.result.testAccuracy.mean, ci95: r.result.testAccuracy.ci95, n: r.result.testAccuracy.n }
    : null,
  rungs: r.rungs.map((g) => ({
    epochs: g.epochs,
    candidates: g.candidates.map((c) => ({ name: c.config, valAccuracy: c.valAccuracy.mean, kept: c.kept })),
  })),
});

async function readRaceSummary(dir: string): Promise<RaceSummary | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, 'race.json'), 'utf8')) as RaceResult;
    return raceSummary(dir, r);
  } catch {
    return undefined;
  }
}

function raceReason(r: RaceSummary): string {
  const t = r.testAccuracy;
  const acc = t
    ? `${(100 * t.mean).toFixed(1)} % test accuracy${t.ci95 ? ` (95 % interval ${(100 * t.ci95[0]).toFixed(1)}–${(100 * t.ci95[1]).toFixed(1)} %, ${t.n} seeds)` : ''}`
    : 'no test accuracy';
  const first = r.rungs[0];
  return `Won a method race on your data: ${first ? `${first.candidates.length} methods trained ${first.epochs} epoch(s) each, the best third went on` : 'one candidate'}, and it reached ${acc} after ${r.budgetEpochs} epochs.`;
}

/**
 * "Find the best method for my data": successive halving over the candidate methods on the project's data (every
 * trial an ordinary run folder under outDir), run inside this process. Cancelling keeps finished trials; running it
 * again resumes.
 */
export async function raceMethods(
  r: RaceRequest,
  opts: { signal?: AbortSignal; onEvent?: (e: EngineEvent) => void } = {},
): Promise<RaceSummary> {
  const methods = r.methods ?? ['linear', 'full', 'spd', 'lora', 'gps', 'bitfit'];
  const test = r.split?.testFraction ?? 0.1;
  const val = r.split?.valFraction ?? 0.1;
  const spec = validateSweepSpec(
    {
      data: r.dataPath,
      model: r.modelPath,
      ...(r.csvPath ? { labels: r.csvPath } : {}),
      ...(r.csvPath && r.columns ? { columns: r.columns } : {}),
      methods,
      seeds: r.seeds ?? [0, 1],
      epochs: r.epochs ?? 9,
      ...(r.batchSize ? { batch: r.batchSize } : {}),
      ratios: [1 - val - test, val, test],
      ...(r.provider ? { provider: r.provider as ProviderRequest } : {}),
      ...(r.window ? { window: r.window } : {}),
      ...(r.bands ? { bands: r.bands } : {}),
      ...(r.frames ? { frames: r.frames } : {}),
      ...(r.valueOffset !== undefined ? { valueOffset: r.valueOffset } : {}),
      ...(r.balance ? { balance: r.balance } : {}),
      ...(hasOverrides(r.overrides) ? { overrides: r.overrides } : {}),
      race: {},
    },
    'the race request',
  );
  if (r.replaceDifferent && (await holdsOtherSweep(join(r.outDir, 'rungs', 'r0'), spec)))
    await rm(r.outDir, { recursive: true, force: true });
  const result = await runRace(spec, r.outDir, (s) => runInProcess(s, opts), opts);
  return raceSummary(r.outDir, result);
}

export interface KFoldRequest {
  /** a finished run: its data, model, method, method options and hyper-parameters are reused */
  runDir: string;
  /** 2..50 folds (default 5); every image is tested once, stratified and group-aware */
  folds?: number;
  seed?: number;
  /** override the run's epochs (a quicker estimate) */
  epochs?: number;
  outDir: string;
}

export interface KFoldSummary {
  dir: string;
  folds: number;
  perFold: { fold: number; trial: string; testImages: number; accuracy: number; balancedAccuracy: number }[];
  /** over the finished folds: mean, sd and 95 % Student-t interval (the sweep's statistics) */
  accuracy: Summary;
  balancedAccuracy: Summary;
  /** folds that did not finish (failed or cancelled), with why */
  missing: { trial: string; state: string; error?: string }[];
}

/** k-fold cross-validation of a finished run's recipe, trials in-process; re-running continues where it stopped. */
export async function kfoldEvaluate(
  r: KFoldRequest,
  opts: { signal?: AbortSignal; onEvent?: (e: EngineEvent) => void } = {},
): Promise<KFoldSummary> {
  const run = await loadRunSpec(r.runDir);
  const h = run.hyper;
  const spec = validateSweepSpec(
    {
      data: run.data.root,
      model: run.backbone.path,
      ...(run.data.labels ? { labels: run.data.labels } : {}),
      ...(run.data.labels && run.data.columns ? { columns: run.data.columns } : {}),
      methods: [
        {
          method: run.method,
          options: run.methodOptions,
          lr: h.lr,
          batch: h.batch,
          epochs: r.epochs ?? h.epochs,
          weightDecay: h.weightDecay,
          optimizer: h.optimizer,
          spdLambda: h.spdLambda,
          // the run's own, except that a shorter k-fold (r.epochs) keeps an epoch after the warm-up, as a new run would
          warmupEpochs:
            r.epochs !== undefined && r.epochs < h.epochs
              ? Math.min(h.warmupEpochs, Math.max(0, r.epochs - 1))
              : h.warmupEpochs,
          labelSmoothing: h.labelSmoothing,
          clipNorm: h.clipNorm,
        },
      ],
      seeds: [r.seed ?? run.seed],
      folds: r.folds ?? 5,
      augment: run.augment,
      provider: run.provider,
      // the run's value mapping (window, offset, bands: refitted on each fold's training images), balance, selection
      window: formatWindow(run.preprocessing.values.voi),
      valueOffset: run.preprocessing.values.offset,
      ...(run.preprocessing.values.bands
        ? { bands: formatBandSelection(run.preprocessing.values.bands.selection) }
        : {}),
      ...(run.data.frames ? { frames: run.data.frames } : {}),
      // the corrections the run's split was made with: the folds leave out and relabel the same images
      ...(run.data.overrides ? { overrides: run.data.overrides } : {}),
      balance: run.balance,
      selectBy: run.selectBy,
    },
    'the k-fold request',
  );
  if (spec.folds < 2)
    throw new AttuneError('sweep-folds', `k-fold needs 2 or more folds, not ${spec.folds}.`, 'Use 3 to 10 folds.');
  const sweep = await openSweep(spec, r.outDir, { onEvent: opts.onEvent });
  const statuses = await runInProcess(sweep, opts);
  const results = await writeResults(sweep, statuses);
  const perFold: KFoldSummary['perFold'] = [];
  for (const s of statuses) {
    if (s.state !== 'done') continue;
    const ev = JSON.parse(await readFile(runFiles(trialDir(sweep.dir, s.trial)).evaluation, 'utf8')) as {
      test?: EngineEvaluation;
    };
    if (!ev.test) continue;
    perFold.push({
      fold: s.trial.fold,
      trial: s.trial.id,
      testImages: ev.test.count,
      accuracy: ev.test.accuracy,
      balancedAccuracy: ev.test.balancedAccuracy,
    });
  }
  return {
    dir: sweep.dir,
    folds: sweep.folds,
    perFold,
    accuracy: results.configs[0].testAccuracy,
    balancedAccuracy: summarizeValues(
      perFold.map((f) => f.balancedAccuracy),
      PROPORTION,
    ),
    missing: results.missing,
  };
}

export interface EvaluationReport {
  split: string;
  accuracy: number;
  balancedAccuracy: number;
  classes: string[];
  perClass: {
    name: string;
    precision: number;
    recall: number;
    f1: number;
    support: number;
    /** counts and 95 % intervals (absent for runs trained before they existed) */
    recallEstimate?: Estimate;
    precisionEstimate?: Estimate;
    specificity?: Estimate;
    auc?: Estimate | null;
  }[];
  confusion: number[][];
  misclassified: { file: string; trueClass: string; predictedClass: string; confidence: number }[];
  /** reliability bins of the (calibrated) model on this split */
  calibration: Bins;
  ece?: number;
  count?: number;
  macroF1?: number;
  /** accuracy (Wilson), balanced accuracy and macro-F1 (stratified bootstrap) with counts and 95 % intervals */
  estimates?: { accuracy: Estimate; balancedAccuracy: Estimate; macroF1: Estimate };
  roc?: { name: string; points: RocPoint[] }[];
  coverage?: CoveragePoint[];
  topConfusions?: { trueClass: string; predictedClass: string; count: number; ofClass: number }[];
  /** fewer than 30 images in some class: say plainly the figures are rough (and offer k-fold where sweeps exist) */
  rough?: boolean;
  roughMessage?: string | null;
  minClassSupport?: number;
  /** temperature scaling fitted on val after training; ECE and reliability on this split before and after */
  temperature?: { value: number; fittedOn: string; images: number; nllBefore: number; nllAfter: number } | null;
  eceBefore?: number | null;
  reliabilityBefore?: Bins | null;
  /** the validation figure that chose the best epoch, and the imbalance handling of the run */
  selectedBy?: string;
  balance?: string;
}

/** The test-split evaluation of a finished run (validation if there is no test split). */
export async function evaluateRun(runDir: string): Promise<EvaluationReport> {
  const file = runFiles(runDir).evaluation;
  if (!existsSync(file))
    throw new AttuneError(
      'run-unevaluated',
      'This run has not finished training, so it has no evaluation yet.',
      'Resume the run and let it finish.',
    );
  const spec = await loadRunSpec(runDir);
  const ev = JSON.parse(await readFile(file, 'utf8')) as SavedEvaluation & {
    test?: EngineEvaluation;
    val?: EngineEvaluation;
  };
  const r = ev.test ?? ev.val;
  const cal = ev.calibration;
  if (!r)
    throw new AttuneError(
      'run-unevaluated',
      'This run had no held-out images to evaluate on.',
      'Train again with a test split (e.g. 10 %).',
    );
  return {
    split: r.split,
    accuracy: r.accuracy,
    balancedAccuracy: r.balancedAccuracy,
    classes: spec.classes,
    perClass: r.perClass,
    confusion: r.confusion,
    misclassified: r.misclassified.map((m) => ({
      file: m.file,
      trueClass: spec.classes[m.label],
      predictedClass: spec.classes[m.predicted],
      confidence: m.confidence,
    })),
    calibration: r.calibration,
    ece: r.ece,
    count: r.count,
    macroF1: r.macroF1,
    estimates: r.estimates,
    roc: r.roc,
    coverage: r.coverage,
    topConfusions: r.topConfusions,
    rough: r.rough,
    roughMessage: r.estimates ? (roughWarning(r) ?? null) : null,
    minClassSupport: r.minClassSupport,
    temperature: cal
      ? {
          value: cal.temperature,
          fittedOn: cal.split,
          images: cal.count,
          nllBefore: cal.nllBefore,
          nllAfter: cal.nllAfter,
        }
      : null,
    eceBefore: r.split === 'test' ? (cal?.test?.eceBefore ?? null) : null,
    reliabilityBefore: r.split === 'test' ? (cal?.test?.reliabilityBefore ?? null) : null,
    selectedBy: ev.selectedBy,
    balance: ev.balance,
  };
}

/** A decision threshold for one class, fitted on the validation split and reported on test (before exporting). */
export async function operatingPointForRun(
  runDir: string,
  positiveClass: string,
  metric: 'sensitivity' | 'specificity',
  atLeast: number,
): Promise<OperatingPoint> {
  const spec = await loadRunSpec(runDir);
  return fitOperatingPoint(runFiles(runDir).predictions, spec.classes, { positiveClass, metric, atLeast });
}

export interface ExportResult {
  outDir: string;
  files: string[];
  verification?: { maxAbsDiff: number; images: number };
  /** model-image.onnx (uint8 RGB in) and its agreement with Attune's preprocessing, or why it was not built */
  imageModel?:
    { path: string; images: number; top1Agreement: number; maxProbabilityDiff: number } | { skipped: string };
  operatingPoint?: OperatingPoint;
  temperature?: number;
}

export async function exportRun(
  runDir: string,
  outDir: string,
  opts: {
    signal?: AbortSignal;
    onEvent?: (e: EngineEvent) => void;
    operatingPoint?: { positiveClass: string; metric: 'sensitivity' | 'specificity'; atLeast: number };
    referBelow?: number;
  } = {},
): Promise<ExportResult> {
  if (opts.signal?.aborted)
    throw new AttuneError(
      'cancelled',
      'The export was cancelled before it started.',
      'Start it again when you are ready.',
    );
  const r = await exportEngineRun(runDir, outDir, {
    onEvent: opts.onEvent,
    signal: opts.signal,
    operatingPoint: opts.operatingPoint,
    referBelow: opts.referBelow,
  });
  const c = r.imageModelCheck;
  return {
    outDir,
    files: [r.modelPath, ...(r.imageModelPath ? [r.imageModelPath] : []), r.labelsPath, r.cardPath, ...r.extraFiles],
    verification: { maxAbsDiff: r.maxAbsDiff, images: r.verifiedImages },
    imageModel:
      r.imageModelPath && c
        ? {
            path: r.imageModelPath,
            images: c.images,
            top1Agreement: c.top1Agreement,
            maxProbabilityDiff: c.maxProbabilityDiff,
          }
        : { skipped: r.imageModelSkipped ?? 'not built' },
    operatingPoint: r.operatingPoint,
    temperature: r.temperature,
  };
}

/** A prediction of an exported model file, with what its test evaluation says about answers like this one. */
export interface Prediction extends EnginePrediction {
  /** e.g. that the model misses half of a class on test, or the operating point it flags a class from */
  caveats: string[];
}

/** Classes the model finds fewer than 80 % of on test, from the metrics in an export's metadata. */
function modelCaveats(metadata: Record<string, string>): string[] {
  const m = metadata['attune.metrics']
    ? (JSON.parse(metadata['attune.metrics']) as { perClass?: { name: string; recall?: Estimate }[] })
    : {};
  const out = (m.perClass ?? [])
    .filter((c) => c.recall && c.recall.n > 0 && c.recall.value < 0.8)
    .map(
      (c) =>
        `On test images this model found only ${c.recall!.k} of ${c.recall!.n} "${c.name}" cases (recall ${(c.recall!.value * 100).toFixed(0)} %, 95 % CI ${(c.recall!.lower * 100).toFixed(0)}–${(c.recall!.upper * 100).toFixed(0)} %).`,
    );
  const op = metadata['attune.operating_point']
    ? (JSON.parse(metadata['attune.operating_point']) as OperatingPoint)
    : undefined;
  if (op)
    out.push(
      `Operating point: "${op.positiveClass}" is flagged from p ≥ ${op.threshold.toFixed(3)} (fitted for ${op.target.metric} ≥ ${(op.target.atLeast * 100).toFixed(0)} %), not only when it is the top class.`,
    );
  return out;
}

/**
 * A preview of the model's view of an image, as a JPEG data URL: DICOM and 16-bit images through `window`
 * (the --window forms), multispectral images through `bands` ('R,G,B' or 'all': true colour).
 */
export async function previewImage(
  file: string,
  opts: { window?: string; valueOffset?: number; bands?: string; size?: number } = {},
): Promise<string> {
  return previewDataUrl(file, {
    ...(opts.window ? { window: parseWindow(opts.window) } : {}),
    ...(opts.valueOffset !== undefined ? { valueOffset: opts.valueOffset } : {}),
    ...(opts.bands ? { bands: parseBandSelection(opts.bands) } : {}),
    size: opts.size,
  });
}

/**
 * Predictions come from the exported file itself, so "Try it" and `attune predict` show what deployment will do.
 * `topK` classes per image (default 5; Infinity for every class); unreadable files go to `onError`, the rest are kept.
 */
export async function predictWithModel(
  modelPath: string,
  files: string[],
  opts: PredictOptions = {},
): Promise<Prediction[]> {
  const classifier = await readClassifier(modelPath);
  const preds = await predictFiles(classifier, files, opts);
  const caveats = modelCaveats(classifier.model.metadata);
  return preds.map((p) => ({ ...p, caveats }));
}

/** Rebuilds a GPS export (model.onnx) from the pretrained backbone and its sparse patch, written to `outPath`. */
export async function rebuildFromGpsPatch(backbonePath: string, patchPath: string, outPath: string): Promise<string> {
  await saveModel(await applyGpsPatch(backbonePath, patchPath), outPath);
  return outPath;
}

/**
 * Grad-CAM heatmaps for "Try it" (an exported model file) or the misclassified gallery (a run: its calibrated
 * classifier, the graph model.onnx will hold), computed through Attune's autodiff. With `outDir`, PNG overlays too;
 * `classIndex` explains that class instead of the predicted one; `onError` hears of images left out.
 */
export async function explainImages(
  source: { modelPath: string } | { runDir: string },
  files: string[],
  opts: {
    outDir?: string;
    classIndex?: number;
    /** add each image's model view, the square the heatmap covers (a JPEG data URL) */
    view?: boolean;
    onError?: (file: string, e: AttuneError) => void;
  } = {},
): Promise<Explanation[]> {
  const model = 'modelPath' in source ? source.modelPath : (await calibratedClassifier(source.runDir)).merged;
  const { outDir, classIndex, view, onError } = opts;
  return explainFiles(model, files, { outDir, classIndex, view, onError });
}

// ---------- sweeps (local, Slurm, Kubernetes) ----------

export { loadSweepSpecFile, validateSweepSpec, type SweepSpec, type SweepSpecInput } from './sweep/spec';
export {
  runSweep,
  sweepReport,
  waitForSweep,
  SWEEP_BACKENDS,
  type SweepBackend,
  type SweepOutcome,
  type SweepReport,
} from './sweep/run-sweep';
