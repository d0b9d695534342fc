/**
 * The trainer: epochs of compiled train steps with a cosine schedule, evaluation each epoch,
 * best checkpoint, resumable after a crash or cancel, and typed events for the CLI and the app.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AttuneError } from '../errors';
import type { EngineEvent, EventSink } from '../events';
import { attachHead, FEATURES, LOGITS, type PreparedBackbone } from '../backbone/prepare';
import { rngFor, shuffleInPlace } from '../data/rng';
import { loadBackbone, type LoadedBackbone } from '../backbone/load';
import { scanDataset } from '../data/scan';
import { loadSplit, saveSplit, splitDataset, splitItems, type DatasetSplit } from '../data/split';
import type { AugmentPreset } from '../data/image';
import { evaluatePredictions, type EvaluationReport } from '../evaluate/metrics';
import { tensor, type Tensor } from '../ir/tensor';
import type { Model } from '../ir/graph';
import { getMethod } from '../methods/registry';
import type { Method, MethodOptions, PreparedMethod } from '../methods/method';
import { BC1, BC2, compileEvalProgram, compileTrainProgram, INV_WEIGHT, LOSS, LR, PROBS, TARGETS, type EvalProgram, type TrainProgram } from '../programs/compile';
import { buildTargets } from '../programs/loss';
import { compileLoopProgram, scanRow, stackFeeds } from '../programs/loop';
import { ADAM_DEFAULTS } from '../programs/optimizer';
import { createSession, type Session } from '../runtime/session';
import type { ProviderRequest } from '../runtime/providers';
import { writeJsonAtomic } from '../util/fs';
import { defaultLoader, type BatchLoaderFactory, type LoaderBatch } from './batches';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { loadRunSpec, runFiles, saveRunSpec, type Hyper, type RunSpec } from './run-spec';
import { cosineWithWarmup } from './schedule';
import { TrainingState } from './state';
import { featureModel, headModel } from './head-model';
import { resolveSpdUpdate } from './optimizer-choice';

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

export interface TrainResult {
  runDir: string;
  status: 'done' | 'cancelled';
  bestEpoch: number;
  bestValAccuracy: number;
  test?: EvaluationReport;
  val?: EvaluationReport;
  provider: string;
}

/** A prepared step waiting to run (alone or inside a Loop of K). */
interface PendingStep {
  feeds: Record<string, Tensor>;
  step: number;
  lr: number;
  count: number;
  labels: Int32Array;
  files: string[];
}

interface Progress {
  /** next epoch to run (0-based) and the step inside it to resume from */
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  bestEpoch: number;
  bestValAccuracy: number;
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
  const split = req.splitFile ? await loadSplit(req.splitFile, report) : splitDataset(report, { seed: req.seed ?? 0, ratios: req.ratios });
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
  const prepared = attachHead(backbone.model, backbone.features, backbone.shapes.get(backbone.features.source)!.dims, spec.classes.length, spec.seed, head);
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

/** Pads a batch to the compiled batch size; padded rows get weight 0. */
function padBatch(bt: LoaderBatch, B: number, rowSize: number): { x: Float32Array; labels: Int32Array; weights: Float32Array } {
  const x = bt.x.length === B * rowSize ? bt.x : new Float32Array(B * rowSize);
  if (x !== bt.x) x.set(bt.x.subarray(0, bt.count * rowSize));
  const labels = new Int32Array(B);
  labels.set(bt.labels.subarray(0, bt.count));
  const weights = new Float32Array(B);
  weights.fill(1, 0, bt.count);
  return { x, labels, weights };
}

function argmaxRows(logits: Float32Array, n: number, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Runs the eval program over batches; returns probabilities [n, C] in order. */
export async function predictBatches(session: Session, program: EvalProgram, params: Map<string, Tensor>, batches: AsyncIterable<LoaderBatch>, rowDims: number[], C: number): Promise<{ probs: Float32Array; labels: number[]; files: string[] }> {
  const rowSize = rowDims.reduce((a, b) => a * b, 1);
  const probs: number[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for await (const bt of batches) {
    const { x } = padBatch(bt, program.batch, rowSize);
    const feeds: Record<string, Tensor> = { [program.imageInput]: tensor('float32', [program.batch, ...rowDims], x) };
    for (const k of program.trainable) feeds[k] = params.get(k)!;
    const out = await session.run(feeds, [PROBS]);
    const p = out[PROBS].data as Float32Array;
    for (let i = 0; i < bt.count * C; i++) probs.push(p[i]);
    labels.push(...bt.labels.subarray(0, bt.count));
    files.push(...bt.files.slice(0, bt.count));
  }
  return { probs: Float32Array.from(probs), labels, files };
}

/** In-memory batches over cached feature rows (linear-probe fast path). */
async function* featureBatches(rows: Float32Array, labels: Int32Array, files: string[], dim: number, B: number, order: number[]): AsyncIterable<LoaderBatch> {
  for (let s = 0; s < order.length; s += B) {
    const idx = order.slice(s, s + B);
    const x = new Float32Array(idx.length * dim);
    idx.forEach((r, i) => x.set(rows.subarray(r * dim, (r + 1) * dim), i * dim));
    yield { x, labels: Int32Array.from(idx.map((r) => labels[r])), count: idx.length, files: idx.map((r) => files[r]) };
  }
}

/** Backbone features of every image (no augmentation), for the linear-probe fast path. */
async function extractFeatures(ctx: RunContext, session: Session, loader: BatchLoaderFactory, items: { file: string; label: number }[], emit: (e: EngineEvent) => void, phase: string): Promise<{ rows: Float32Array; labels: Int32Array; files: string[] }> {
  const dim = ctx.prepared.featureDim;
  const rows = new Float32Array(items.length * dim);
  const labels = new Int32Array(items.length);
  const files: string[] = [];
  const S = ctx.spec.preprocessing.size;
  let n = 0;
  const input = ctx.prepared.model.graph.inputs[0].name;
  for await (const bt of loader({ items, pre: ctx.spec.preprocessing, augment: 'none', batchSize: ctx.spec.hyper.batch, seed: ctx.spec.seed, epoch: 0, shuffle: false })) {
    // the feature graph keeps the exported dynamic batch: no padding needed
    const out = await session.run({ [input]: tensor('float32', [bt.count, 3, S, S], bt.x.subarray(0, bt.count * 3 * S * S)) }, [FEATURES]);
    rows.set((out[FEATURES].data as Float32Array).subarray(0, bt.count * dim), n * dim);
    labels.set(bt.labels.subarray(0, bt.count), n);
    files.push(...bt.files);
    n += bt.count;
    emit({ type: 'progress', phase, done: n, total: items.length });
  }
  return { rows, labels, files };
}

async function appendMetrics(runDir: string, e: EngineEvent): Promise<void> {
  await appendFile(runFiles(runDir).metrics, JSON.stringify(e) + '\n');
}

async function saveStatus(runDir: string, state: 'running' | 'cancelled' | 'done' | 'failed', extra: Record<string, unknown> = {}): Promise<void> {
  await writeJsonAtomic(runFiles(runDir).status, { state, updatedAt: new Date().toISOString(), ...extra });
}

/** Trains (or resumes) a run to completion or cancellation. */
export async function trainRun(req: TrainRequest, opts: TrainOptions = {}): Promise<TrainResult> {
  const emit = opts.onEvent ?? (() => {});
  const runDir = resolve(req.outDir);
  const { spec, split, resumed } = await openRun(req, opts);
  await saveStatus(runDir, 'running');
  emit({ type: 'phase', phase: resumed ? 'resume' : 'prepare', detail: runDir });
  try {
    return await trainCompiled(runDir, spec, split, opts, emit);
  } catch (e) {
    await saveStatus(runDir, 'failed', { error: (e as Error).message });
    throw e;
  }
}

async function trainCompiled(runDir: string, spec: RunSpec, split: DatasetSplit, opts: TrainOptions, emit: EventSink): Promise<TrainResult> {
  const files = runFiles(runDir);
  const ctx = await buildRunContext(spec, split, runDir, opts);
  const loader = opts.loader ?? defaultLoader;
  const { hyper } = spec;
  const C = spec.classes.length;
  const B = hyper.batch;
  const S = spec.preprocessing.size;
  const fast = ctx.method.cachedFeatures === true;

  // programs: the linear fast path trains a head-only graph on cached features
  emit({ type: 'phase', phase: 'compile', detail: `${ctx.method.title}, batch ${B}` });
  const trainModel: Model = fast ? headModel(ctx.prepared) : ctx.prepared.model;
  const update = resolveSpdUpdate(hyper, ctx.methodPrepared);
  const trainProgram: TrainProgram = await compileTrainProgram(trainModel, ctx.methodPrepared.program, { batch: B, numClasses: C, update, clipNorm: hyper.clipNorm, hyper: ADAM_DEFAULTS });
  const evalProgram = await compileEvalProgram(trainModel, ctx.methodPrepared.program, B);
  const trainSession = await createSession(trainProgram.model, { provider: spec.provider, onEvent: emit });
  const evalSession = await createSession(evalProgram.model, { provider: spec.provider });
  // K > 1: K steps per session.run inside an ONNX Loop; the epoch's remainder runs step by step
  const K = spec.stepsPerRun;
  const loopProgram = K > 1 ? compileLoopProgram(trainProgram, K) : undefined;
  const loopSession = loopProgram ? await createSession(loopProgram.model, { provider: spec.provider }) : undefined;
  const releaseAll = () => Promise.all([trainSession.release(), evalSession.release(), loopSession?.release()]);
  const runPending = async (steps: PendingStep[]): Promise<Record<string, Tensor>[]> => {
    if (loopProgram && loopSession && steps.length === K) {
      const feeds = stackFeeds(loopProgram, steps.map((p) => p.feeds));
      state.feeds(feeds);
      const out = await loopSession.run(feeds);
      state.update(out);
      return steps.map((_, i) => Object.fromEntries([...loopProgram.scans].map(([name, outer]) => [name, scanRow(out[outer], i)])));
    }
    const outs: Record<string, Tensor>[] = [];
    for (const p of steps) {
      const feeds = { ...p.feeds };
      state.feeds(feeds);
      const out = await trainSession.run(feeds);
      state.update(out);
      outs.push(out);
    }
    return outs;
  };
  const rowDims = fast ? [ctx.prepared.featureDim] : [3, S, S];
  const rowSize = rowDims.reduce((a, b) => a * b, 1);

  let cached: Record<'train' | 'val' | 'test', { rows: Float32Array; labels: Int32Array; files: string[] }> | undefined;
  if (fast) {
    const fsession = await createSession(featureModel(ctx.prepared), { provider: spec.provider });
    cached = {
      train: await extractFeatures(ctx, fsession, loader, ctx.items.train, emit, 'features:train'),
      val: await extractFeatures(ctx, fsession, loader, ctx.items.val, emit, 'features:val'),
      test: await extractFeatures(ctx, fsession, loader, ctx.items.test, emit, 'features:test'),
    };
    await fsession.release();
  }

  // state: fresh or from the last checkpoint
  let state = TrainingState.fresh(trainProgram);
  let progress: Progress = { epoch: 0, stepInEpoch: 0, globalStep: 0, bestEpoch: -1, bestValAccuracy: -1 };
  if (existsSync(files.last)) {
    const ck = await loadCheckpoint(files.last);
    state = TrainingState.restore(trainProgram, ck.tensors);
    progress = ck.meta.progress as Progress;
    emit({ type: 'log', level: 'info', message: `Resuming at epoch ${progress.epoch + 1}, step ${progress.stepInEpoch}.` });
  }
  const stepsPerEpoch = Math.ceil(ctx.items.train.length / B);
  const totalSteps = stepsPerEpoch * hyper.epochs;
  const warmupSteps = Math.round(hyper.warmupEpochs * stepsPerEpoch);

  const trainBatches = (epoch: number): AsyncIterable<LoaderBatch> => {
    if (cached) {
      const order = shuffleOrder(cached.train.labels.length, spec.seed, epoch);
      return featureBatches(cached.train.rows, cached.train.labels, cached.train.files, ctx.prepared.featureDim, B, order);
    }
    return loader({ items: ctx.items.train, pre: spec.preprocessing, augment: spec.augment, batchSize: B, seed: spec.seed, epoch, shuffle: true, onEvent: emit });
  };
  const evalBatches = (which: 'val' | 'test'): AsyncIterable<LoaderBatch> => {
    if (cached) {
      const c = cached[which];
      return featureBatches(c.rows, c.labels, c.files, ctx.prepared.featureDim, B, [...Array(c.labels.length).keys()]);
    }
    return loader({ items: ctx.items[which], pre: spec.preprocessing, augment: 'none', batchSize: B, seed: spec.seed, epoch: 0, shuffle: false });
  };
  const evaluate = async (which: 'val' | 'test', params: Map<string, Tensor>): Promise<EvaluationReport> => {
    const r = await predictBatches(evalSession, evalProgram, params, evalBatches(which), rowDims, C);
    return evaluatePredictions(which, spec.classes, r.probs, r.labels, r.files);
  };

  const save = async (path: string, tensors: Map<string, Tensor>, p: Progress) => saveCheckpoint(path, tensors, { progress: p, savedAt: new Date().toISOString() });

  for (let epoch = progress.epoch; epoch < hyper.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let seen = 0;
    let correct = 0;
    let step = 0;
    const diagSums: Record<string, number> = {};
    // steps wait in `pending` until K of them can run in one Loop session.run (K = 1: every step at once)
    const pending: PendingStep[] = [];
    const flush = async (): Promise<void> => {
      const outs = await runPending(pending);
      pending.forEach((p, i) => {
        const out = outs[i];
        ctx.methodPrepared.afterStep?.({ epoch, step: p.step, batchFiles: p.files, count: p.count, logits: out[LOGITS].data as Float32Array });
        const loss = (out[LOSS].data as Float32Array)[0];
        if (!Number.isFinite(loss))
          throw new AttuneError('diverged', `Training diverged at epoch ${epoch + 1}, step ${p.step + 1} (loss is ${loss}).`, 'Lower the learning rate (e.g. divide it by 10) and start a new run.');
        const pred = argmaxRows(out[LOGITS].data as Float32Array, p.count, C);
        for (let r = 0; r < p.count; r++) if (pred[r] === p.labels[r]) correct++;
        lossSum += loss * p.count;
        seen += p.count;
        for (const k of trainProgram.scalars) if (k !== LOSS) diagSums[k] = (diagSums[k] ?? 0) + (out[k].data as Float32Array)[0];
        progress = { ...progress, globalStep: progress.globalStep + 1, stepInEpoch: p.step + 1 };
        emit({ type: 'step', epoch, step: p.step + 1, stepsPerEpoch, loss, lr: p.lr, imagesPerSecond: (seen * 1000) / Math.max(1, performance.now() - t0) });
      });
      pending.length = 0;
    };
    for await (const bt of trainBatches(epoch)) {
      if (step < progress.stepInEpoch) {
        step++;
        continue;
      }
      const { x, labels, weights } = padBatch(bt, B, rowSize);
      const { targets, invWeight } = buildTargets(labels, weights, C, hyper.labelSmoothing);
      const globalStep = progress.globalStep + pending.length;
      const t = globalStep + 1;
      const lr = cosineWithWarmup(globalStep, totalSteps, warmupSteps, hyper.lr);
      const feeds: Record<string, Tensor> = {
        [trainProgram.imageInput]: tensor('float32', [B, ...rowDims], x),
        [TARGETS]: tensor('float32', [B, C], targets),
        [INV_WEIGHT]: tensor('float32', [], [invWeight]),
        [LR]: tensor('float32', [], [lr]),
        [BC1]: tensor('float32', [], [1 - Math.pow(ADAM_DEFAULTS.beta1, t)]),
        [BC2]: tensor('float32', [], [1 - Math.pow(ADAM_DEFAULTS.beta2, t)]),
      };
      for (const e of trainProgram.extraInputs) feeds[e.name] = e.fill ? e.fill({ epoch, step, seed: spec.seed, batchFiles: bt.files, count: bt.count }) : e.neutral();
      pending.push({ feeds, step, lr, count: bt.count, labels, files: bt.files });
      step++;
      if (pending.length === K) await flush();
      if (opts.signal?.aborted) {
        await flush();
        await save(files.last, state.values, progress);
        await saveStatus(runDir, 'cancelled');
        emit({ type: 'cancelled', runDir, resumable: true });
        await releaseAll();
        return { runDir, status: 'cancelled', bestEpoch: progress.bestEpoch, bestValAccuracy: progress.bestValAccuracy, provider: trainSession.provider };
      }
    }
    await flush();
    const params = state.params();
    const val = ctx.items.val.length ? await evaluate('val', params) : undefined;
    const valAccuracy = val?.accuracy ?? correct / Math.max(1, seen);
    const best = valAccuracy > progress.bestValAccuracy;
    progress = { ...progress, epoch: epoch + 1, stepInEpoch: 0, ...(best ? { bestEpoch: epoch, bestValAccuracy: valAccuracy } : {}) };
    if (best) await save(files.best, params, progress);
    await save(files.last, state.values, progress);
    const diagnostics: Record<string, number> = {};
    for (const [k, v] of Object.entries(diagSums)) diagnostics[k.replace(/^attune_/, '')] = v / Math.max(1, step);
    if (ctx.methodPrepared.epochDiagnostics && !cached && ctx.items.val.length) Object.assign(diagnostics, await ctx.methodPrepared.epochDiagnostics(params, evalBatches('val')));
    const ev: EngineEvent = {
      type: 'epoch',
      epoch,
      epochs: hyper.epochs,
      trainLoss: lossSum / Math.max(1, seen),
      trainAccuracy: correct / Math.max(1, seen),
      valLoss: val?.loss ?? NaN,
      valAccuracy,
      seconds: (performance.now() - t0) / 1000,
      best,
      diagnostics,
    };
    emit(ev);
    await appendMetrics(runDir, ev);
  }

  // final evaluation with the best weights
  const bestParams = (await loadCheckpoint(files.best)).tensors;
  const val = ctx.items.val.length ? await evaluate('val', bestParams) : undefined;
  const test = ctx.items.test.length ? await evaluate('test', bestParams) : undefined;
  await writeJsonAtomic(files.evaluation, { classes: spec.classes, bestEpoch: progress.bestEpoch, val, test });
  await saveStatus(runDir, 'done', { bestEpoch: progress.bestEpoch, bestValAccuracy: progress.bestValAccuracy, testAccuracy: test?.accuracy });
  await releaseAll();
  emit({ type: 'done', runDir, bestEpoch: progress.bestEpoch, bestValAccuracy: progress.bestValAccuracy, testAccuracy: test?.accuracy });
  return { runDir, status: 'done', bestEpoch: progress.bestEpoch, bestValAccuracy: progress.bestValAccuracy, test, val, provider: trainSession.provider };
}

function shuffleOrder(n: number, seed: number, epoch: number): number[] {
  return shuffleInPlace([...Array(n).keys()], rngFor(seed, epoch, 0x5eed));
}


