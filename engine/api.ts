/**
 * The engine's façade for the desktop app: one function per capability, plain JSON-serialisable
 * inputs and outputs (they cross the utility-process boundary). The CLI calls the same modules.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AttuneError } from './errors';
import type { EngineEvent } from './events';
import type { Preprocessing } from './preprocessing';
import { loadBackbone, withNewHead } from './backbone/load';
import { weightStats } from './backbone/weight-stats';
import { supportedOps } from './autodiff/differentiate';
import { scanDataset as scanFolder } from './data/scan';
import type { ScanReport as EngineScanReport } from './data/types';
import type { EvaluationReport as EngineEvaluation } from './evaluate/metrics';
import { exportRun as exportEngineRun } from './export/export';
import { METHODS } from './methods/registry';
import { full } from './methods/full';
import { parameterCount } from './methods/layers';
import type { Method } from './methods/method';
import { deviceBatch, recommendMethod, type Recommendation } from './methods/recommend';
import { predictFiles } from './predict/predict';
import { platformInfo } from './runtime/session';
import { planProviders, type ProviderRequest } from './runtime/providers';
import { loadRunSpec, runFiles } from './train/run-spec';
import { trainRun as trainEngineRun } from './train/trainer';

export type { EngineEvent, Preprocessing };

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
  /** patient / group ids (CSV group column, DICOM patient): each stays within one split. Shown locally only. */
  groups?: { count: number; ids: { id: string; images: number }[] } | null;
}

/** Patient/group ids with their image counts (the first 500), so the user can check the grouping. */
function summariseGroups(r: EngineScanReport): ScanReport['groups'] {
  const counts = new Map<string, number>();
  for (const it of r.items) if (it.group) counts.set(it.group, (counts.get(it.group) ?? 0) + 1);
  if (!counts.size) return null;
  const ids = [...counts].map(([id, images]) => ({ id, images })).sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return { count: counts.size, ids: ids.slice(0, 500) };
}

function summariseImages(r: EngineScanReport): string | null {
  if (!r.items.length) return null;
  const formats = new Map<string, number>();
  for (const it of r.items) formats.set(it.format.toUpperCase(), (formats.get(it.format.toUpperCase()) ?? 0) + 1);
  const sizes = new Set(r.items.map((i) => `${i.width}×${i.height}`));
  const fmt = [...formats].map(([f, n]) => `${n} ${f}`).join(', ');
  return `${fmt}; ${sizes.size === 1 ? [...sizes][0] : `${sizes.size} different sizes`}`;
}

export async function scanDataset(path: string, opts: { csvPath?: string; cacheDir?: string } = {}, onEvent?: (e: EngineEvent) => void): Promise<ScanReport> {
  const r = await scanFolder(path, {
    labels: opts.csvPath,
    cacheDir: opts.cacheDir,
    onEvent,
    onProgress: (done, total, phase) => onEvent?.({ type: 'progress', phase: phase === 'hash' ? 'scan:duplicates' : 'scan', done, total }),
  });
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
    groups: summariseGroups(r),
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

const NO_GRADIENT_NEEDED = new Set(['Shape', 'Size', 'Constant', 'ConstantOfShape', 'Equal', 'Less', 'Greater', 'Not', 'And', 'Or', 'ArgMax', 'NonZero', 'Range']);

/** Compatibility check: feature tensor, ops every method can train through, input size, preprocessing. */
export async function inspectBackbone(modelPath: string): Promise<BackboneInfo> {
  try {
    const bb = await loadBackbone(modelPath);
    const known = new Set(supportedOps());
    const unsupported = [...new Set(bb.model.graph.nodes.filter((n) => !NO_GRADIENT_NEEDED.has(n.op) && (!known.has(n.op) || n.domain)).map((n) => (n.domain ? `${n.domain}.${n.op}` : n.op)))];
    const notes = [`Features: ${bb.features.description} (${bb.featureDim} values per image).`];
    if (unsupported.length) notes.push(`Only the linear probe can train this model: Attune cannot differentiate ${unsupported.join(', ')}.`);
    const { looksPretrained: pretrained } = weightStats(bb.model.graph.initializers.values());
    if (pretrained === false) {
      notes.unshift('Its weights look randomly initialised, not pretrained: it has learned nothing yet, so fine-tuning starts from scratch and needs far more images. Use a pretrained model from the catalogue unless this is intended.');
    }
    return { modelPath, ok: true, featureTensor: bb.features.source, featureDim: bb.featureDim, unsupportedOps: unsupported, inputSize: bb.inputSize, preprocessing: bb.preprocessing, parameterCount: bb.parameterCount, pretrained, notes };
  } catch (e) {
    const msg = e instanceof AttuneError ? `${e.message} ${e.hint}` : (e as Error).message;
    return { modelPath, ok: false, featureTensor: null, featureDim: null, unsupportedOps: [], inputSize: null, preprocessing: null, parameterCount: 0, pretrained: null, notes: [msg] };
  }
}

// ---------- methods ----------

export interface MethodInfo {
  name: string;
  title: string;
  summary: string;
  trainableShare: number | null;
  secondsPerEpoch: number | null;
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
}

/** Rough per-image training cost relative to a forward pass: seconds per epoch relative to full fine-tuning's in bench/results/methods.md, times 3. */
const COST_FACTOR: Record<string, number> = { linear: 0, full: 3, spd: 3, l2sp: 3, bitfit: 2.2, lora: 2.8, gps: 2.9, pace: 8.5 };
/** Measured on 2 CPU cores: ViT-Tiny forward ≈ 40 img/s (npm run bench:train). Scaled by parameter count. */
const CPU_FORWARD_IMAGES_PER_SECOND_VIT_TINY = 40;
const VIT_TINY_PARAMETERS = 5.7e6;

export async function listMethods(ctx: { modelPath?: string; trainCount?: number; numClasses?: number } = {}): Promise<MethodListing> {
  const plan = planProviders('auto', platformInfo());
  const device = plan.order[0] === 'cpu' ? 'CPU' : plan.order[0].toUpperCase();
  const rec = ctx.trainCount !== undefined ? recommendMethod(ctx.trainCount, { hasAccelerator: device !== 'CPU' }) : null;
  const bb = ctx.modelPath && existsSync(ctx.modelPath) ? await loadBackbone(ctx.modelPath) : undefined;
  const params = bb?.parameterCount;
  const graph = bb ? withNewHead(bb, ctx.numClasses ?? 2, 0).model.graph : undefined;
  const total = graph ? parameterCount(graph) : 0;
  const forwardRate = params ? (CPU_FORWARD_IMAGES_PER_SECOND_VIT_TINY * VIT_TINY_PARAMETERS) / params : undefined;
  // SPD is an optimizer; as a card it means full fine-tuning with SPD (the CLI's --method spd)
  const cards = [...METHODS, { ...full, name: 'spd', title: 'SPD (selective projection decay)', summary: 'Full fine-tuning that pulls back only the layers drifting away from the pretrained weights; steadier than plain full fine-tuning on small or shifted data.' }];
  return {
    device,
    methods: cards.map((m) => ({
      name: m.name,
      title: m.title,
      summary: m.summary,
      trainableShare: graph ? m.trainableParameters(graph, {}) / total : null,
      ...timeEstimate(m.name, forwardRate && ctx.trainCount && device === 'CPU' ? ctx.trainCount / forwardRate : null),
      recommended: rec?.method === m.name,
      why: rec?.method === m.name ? rec.reason : undefined,
      // numeric method options (LoRA rank, GPS K, PACE σ and λ, …) by the names trainRun's `options` takes
      optionLabels: Object.fromEntries(m.options.map((o) => [o.name, o.description])),
      defaults: cardDefaults(m, rec, device !== 'CPU'),
    })),
    recommendation: rec ? { name: rec.method, why: rec.reason, alternative: { name: rec.alternative.method, why: rec.alternative.reason } } : null,
  };
}

/**
 * Seconds per epoch (and once per run) from one forward pass over the training images, `forwardSeconds`.
 * The linear probe (cost factor 0) runs that pass once to cache features; its epochs train a head on them.
 */
function timeEstimate(method: string, forwardSeconds: number | null): Pick<MethodInfo, 'secondsPerEpoch' | 'setupSeconds'> {
  if (forwardSeconds === null) return { secondsPerEpoch: null, setupSeconds: null };
  const factor = COST_FACTOR[method] ?? 3;
  if (factor === 0) return { secondsPerEpoch: 0, setupSeconds: forwardSeconds };
  return { secondsPerEpoch: forwardSeconds * factor, setupSeconds: 0 };
}

/**
 * What the app pre-fills for a method: its METHODS.md defaults, with a batch that fits the device's memory;
 * for the recommended method, the recommendation's preset (epochs, batch, learning rate, options) on top.
 */
function cardDefaults(m: Method, rec: Recommendation | null, hasAccelerator: boolean): MethodInfo['defaults'] {
  const options = Object.fromEntries(m.options.filter((o) => typeof o.default === 'number').map((o) => [o.name, o.default as number]));
  const base = { ...options, epochs: m.defaults.epochs, batchSize: deviceBatch(m.name, m.defaults.batch, hasAccelerator), learningRate: m.defaults.lr };
  if (rec?.method !== m.name) return base;
  const preset = Object.fromEntries(Object.entries(rec.options).filter((e): e is [string, number] => typeof e[1] === 'number' && e[0] in options));
  return { ...base, ...preset, epochs: rec.hyper.epochs ?? base.epochs, batchSize: rec.hyper.batch ?? base.batchSize, learningRate: rec.hyper.lr ?? base.learningRate };
}

// ---------- train, evaluate, export, predict ----------

export interface TrainRequest {
  dataPath: string;
  csvPath?: string;
  modelPath: string;
  method: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  outDir: string;
  provider: string;
  split: { valFraction: number; testFraction: number; seed: number };
  options?: Record<string, number>;
  /** training image variations; default 'natural' (photos). 'medical': mild rotation and zoom, horizontal flip */
  augment?: 'none' | 'natural' | 'aerial' | 'medical';
  /** images to leave out and labels to correct (paths relative to dataPath, '/'-separated) */
  overrides?: { exclude?: string[]; relabel?: Record<string, string> };
  resumeFrom?: string;
  splitFile?: string;
  scanCacheDir?: string;
}

export interface TrainResult {
  runDir: string;
  status: 'done' | 'cancelled';
  provider?: string;
  bestEpoch?: number;
  bestValAccuracy?: number;
  testAccuracy?: number;
}

/** Trains, or resumes when `resumeFrom` (or `outDir`) holds an unfinished run. */
export async function trainRun(r: TrainRequest, opts: { signal?: AbortSignal; onEvent?: (e: EngineEvent) => void } = {}): Promise<TrainResult> {
  const isSpd = r.method === 'spd';
  const res = await trainEngineRun(
    {
      data: r.dataPath,
      labels: r.csvPath,
      model: r.modelPath,
      method: isSpd ? 'full' : r.method,
      optimizer: isSpd ? 'spd' : undefined,
      epochs: r.epochs,
      batch: r.batchSize,
      lr: r.learningRate,
      seed: r.seed,
      outDir: r.resumeFrom ?? r.outDir,
      provider: r.provider as ProviderRequest,
      ratios: [1 - r.split.valFraction - r.split.testFraction, r.split.valFraction, r.split.testFraction],
      splitFile: r.splitFile,
      methodOptions: r.options,
      augment: r.augment,
      overrides: r.overrides,
    },
    { signal: opts.signal, onEvent: opts.onEvent, scanCacheDir: r.scanCacheDir },
  );
  return { runDir: res.runDir, status: res.status, provider: res.provider, bestEpoch: res.bestEpoch, bestValAccuracy: res.bestValAccuracy, testAccuracy: res.test?.accuracy };
}

export interface EvaluationReport {
  split: string;
  accuracy: number;
  balancedAccuracy: number;
  classes: string[];
  perClass: { name: string; precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
  misclassified: { file: string; trueClass: string; predictedClass: string; confidence: number }[];
  calibration: { lower: number; upper: number; confidence: number; accuracy: number; count: number }[];
  ece?: number;
}

/** The test-split evaluation of a finished run (validation if there is no test split). */
export async function evaluateRun(runDir: string): Promise<EvaluationReport> {
  const file = runFiles(runDir).evaluation;
  if (!existsSync(file)) throw new AttuneError('run-unevaluated', 'This run has not finished training, so it has no evaluation yet.', 'Resume the run and let it finish.');
  const spec = await loadRunSpec(runDir);
  const ev = JSON.parse(await readFile(file, 'utf8')) as { test?: EngineEvaluation; val?: EngineEvaluation };
  const r = ev.test ?? ev.val;
  if (!r) throw new AttuneError('run-unevaluated', 'This run had no held-out images to evaluate on.', 'Train again with a test split (e.g. 10 %).');
  return {
    split: r.split,
    accuracy: r.accuracy,
    balancedAccuracy: r.balancedAccuracy,
    classes: spec.classes,
    perClass: r.perClass,
    confusion: r.confusion,
    misclassified: r.misclassified.map((m) => ({ file: m.file, trueClass: spec.classes[m.label], predictedClass: spec.classes[m.predicted], confidence: m.confidence })),
    calibration: r.calibration,
    ece: r.ece,
  };
}

export interface ExportResult {
  outDir: string;
  files: string[];
  verification?: { maxAbsDiff: number; images: number };
}

export async function exportRun(runDir: string, outDir: string, opts: { signal?: AbortSignal; onEvent?: (e: EngineEvent) => void } = {}): Promise<ExportResult> {
  if (opts.signal?.aborted) throw new AttuneError('cancelled', 'The export was cancelled before it started.', 'Start it again when you are ready.');
  const r = await exportEngineRun(runDir, outDir, { onEvent: opts.onEvent, signal: opts.signal });
  return { outDir, files: [r.modelPath, r.labelsPath, r.cardPath, ...r.extraFiles], verification: { maxAbsDiff: r.maxAbsDiff, images: r.verifiedImages } };
}

export interface Prediction {
  file: string;
  label: string;
  confidence: number;
  probabilities: { label: string; p: number }[];
}

/** Predictions come from the exported file itself, so "Try it" shows what deployment will do. */
export async function predictWithModel(modelPath: string, files: string[]): Promise<Prediction[]> {
  const preds = await predictFiles(modelPath, files, { topK: 1000 });
  return preds.map((p) => ({ file: p.file, label: p.label, confidence: p.probability, probabilities: p.top.map((t) => ({ label: t.label, p: t.probability })) }));
}
