/**
 * The trainer: epochs of compiled train steps with a cosine schedule, evaluation each epoch,
 * best checkpoint, resumable after a crash or cancel, and typed events for the CLI and the app.
 */
import { inputChannels } from '../preprocessing';
import { appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { freemem } from 'node:os';
import { resolve } from 'node:path';
import { AttuneError } from '../errors';
import type { EngineEvent, EventSink } from '../events';
import { LOGITS } from '../backbone/prepare';
import { type DatasetSplit } from '../data/split';
import { evaluatePredictions, type EvaluationReport } from '../evaluate/metrics';
import { fitTemperature, temperedSoftmax, type CalibrationSummary } from '../evaluate/calibration';
import { tensor, type Tensor } from '../ir/tensor';
import type { Model } from '../ir/graph';
import { BC1, BC2, compileEvalProgram, INV_WEIGHT, LOSS, LR, TARGETS, type TrainProgram } from '../programs/compile';
import { buildTargets } from '../programs/loss';
import { compileLoopProgram, scanRow, stackFeeds } from '../programs/loop';
import { memoryAdvice } from '../programs/memory';
import { ADAM_DEFAULTS } from '../programs/optimizer';
import { createSession } from '../runtime/session';
import { writeJsonAtomic } from '../util/fs';
import { defaultLoader, type LoaderBatch } from '../data/loader';
import { loadCheckpoint, saveCheckpoint } from '../run/checkpoint';
import { runFiles, type RunSpec, type SelectBy } from '../run/spec';
import { balancedOrder, classWeights } from './balance';
import { cosineWithWarmup } from './schedule';
import { TrainingState } from './state';
import { featureModel, headModel } from './head-model';
import { compileRunStep } from './optimizer-choice';

import { buildRunContext, openRun, type TrainOptions, type RunRequest } from '../run/setup';
import { argmaxRows, extractFeatures, featureBatches, shuffleOrder } from './batching';
import { padBatch, predictBatches } from '../evaluate/predict-batches';

export type { RunRequest, TrainOptions } from '../run/setup';

export interface TrainResult {
  runDir: string;
  status: 'done' | 'cancelled';
  bestEpoch: number;
  bestValAccuracy: number;
  /** the validation figure that chose the best epoch, and its value there */
  selectedBy: SelectBy;
  bestValScore: number;
  calibration?: CalibrationSummary;
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

/** The figure of a validation report that checkpoint selection compares. */
function selectionScore(r: EvaluationReport, by: SelectBy): number {
  return by === 'macro-f1' ? r.macroF1 : by === 'accuracy' ? r.accuracy : r.balancedAccuracy;
}

interface Progress {
  /** next epoch to run (0-based) and the step inside it to resume from */
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  bestEpoch: number;
  bestValAccuracy: number;
  /** selection figure at the best epoch (absent in checkpoints from before selection by balanced accuracy) */
  bestScore?: number;
}

async function appendMetrics(runDir: string, e: EngineEvent): Promise<void> {
  await appendFile(runFiles(runDir).metrics, JSON.stringify(e) + '\n');
}

async function saveStatus(
  runDir: string,
  state: 'running' | 'cancelled' | 'done' | 'failed',
  extra: Record<string, unknown> = {},
): Promise<void> {
  await writeJsonAtomic(runFiles(runDir).status, { state, updatedAt: new Date().toISOString(), ...extra });
}

/** Trains (or resumes) a run to completion or cancellation. */
export async function trainRun(req: RunRequest, opts: TrainOptions = {}): Promise<TrainResult> {
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

async function trainCompiled(
  runDir: string,
  spec: RunSpec,
  split: DatasetSplit,
  opts: TrainOptions,
  emit: EventSink,
): Promise<TrainResult> {
  const files = runFiles(runDir);
  const ctx = await buildRunContext(spec, split, runDir, opts);
  const loader = opts.loader ?? defaultLoader;
  const { hyper } = spec;
  const C = spec.classes.length;
  const B = hyper.batch;
  const S = spec.preprocessing.size;
  const fast = ctx.method.cachedFeatures === true;
  const trainLabels = ctx.items.train.map((i) => i.label);
  const weightOf = spec.balance === 'weights' ? classWeights(trainLabels, C) : undefined;
  if (spec.balance !== 'none')
    emit({
      type: 'log',
      level: 'info',
      message:
        spec.balance === 'weights'
          ? `Class-weighted loss: ${spec.classes.map((c, i) => `${c} ×${weightOf![i].toFixed(2)}`).join(', ')}.`
          : 'Class-balanced sampling: every class is drawn equally often.',
    });

  // programs: the linear fast path trains a head-only graph on cached features
  emit({ type: 'phase', phase: 'compile', detail: `${ctx.method.title}, batch ${B}` });
  const trainModel: Model = fast ? headModel(ctx.prepared) : ctx.prepared.model;
  const trainProgram: TrainProgram = await compileRunStep(trainModel, ctx.methodPrepared, hyper, B, C);
  const evalProgram = await compileEvalProgram(trainModel, ctx.methodPrepared.program, B);
  const trainSession = await createSession(trainProgram.model, { provider: spec.provider, onEvent: emit });
  // before the first step, whether it fits: the estimate is of this process's peak, so what it may reach is what
  // the machine has free plus what the process holds already. A GPU's memory is not the host's: CPU only.
  if (trainSession.provider === 'cpu' && !fast) {
    const available = freemem() + process.memoryUsage().rss;
    const diagnostics = ctx.methodPrepared.epochDiagnostics ? 1 : 0;
    emit({ type: 'memory', ...memoryAdvice(trainProgram.memory, B, available, diagnostics) });
  }
  const evalSession = await createSession(evalProgram.model, { provider: spec.provider });
  // K > 1: K steps per session.run inside an ONNX Loop; the epoch's remainder runs step by step
  const K = spec.stepsPerRun;
  const loopProgram = K > 1 ? compileLoopProgram(trainProgram, K) : undefined;
  const loopSession = loopProgram ? await createSession(loopProgram.model, { provider: spec.provider }) : undefined;
  const releaseAll = () => Promise.all([trainSession.release(), evalSession.release(), loopSession?.release()]);
  const runPending = async (steps: PendingStep[]): Promise<Record<string, Tensor>[]> => {
    if (loopProgram && loopSession && steps.length === K) {
      const feeds = stackFeeds(
        loopProgram,
        steps.map((p) => p.feeds),
      );
      state.feeds(feeds);
      const out = await loopSession.run(feeds);
      state.update(out);
      return steps.map((_, i) =>
        Object.fromEntries([...loopProgram.scans].map(([name, outer]) => [name, scanRow(out[outer], i)])),
      );
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
  const rowDims = fast ? [ctx.prepared.featureDim] : [inputChannels(spec.preprocessing), S, S];
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
    emit({
      type: 'log',
      level: 'info',
      message: `Resuming at epoch ${progress.epoch + 1}, step ${progress.stepInEpoch}.`,
    });
  }
  const stepsPerEpoch = Math.ceil(ctx.items.train.length / B);
  const totalSteps = stepsPerEpoch * hyper.epochs;
  const warmupSteps = Math.round(hyper.warmupEpochs * stepsPerEpoch);

  const trainBatches = (epoch: number): AsyncIterable<LoaderBatch> => {
    const balanced = spec.balance === 'sampling' ? balancedOrder(trainLabels, C, spec.seed, epoch) : undefined;
    if (cached) {
      const order = balanced ?? shuffleOrder(cached.train.labels.length, spec.seed, epoch);
      return featureBatches(
        cached.train.rows,
        cached.train.labels,
        cached.train.files,
        ctx.prepared.featureDim,
        B,
        order,
      );
    }
    // balanced sampling: the drawn list (with repeats) is already in random order; repeats get their own augmentation
    const items = balanced ? balanced.map((i) => ctx.items.train[i]) : ctx.items.train;
    return loader({
      items,
      pre: spec.preprocessing,
      augment: spec.augment,
      batchSize: B,
      seed: spec.seed,
      epoch,
      shuffle: !balanced,
      onEvent: emit,
    });
  };
  const evalBatches = (which: 'val' | 'test'): AsyncIterable<LoaderBatch> => {
    if (cached) {
      const c = cached[which];
      return featureBatches(c.rows, c.labels, c.files, ctx.prepared.featureDim, B, [...Array(c.labels.length).keys()]);
    }
    return loader({
      items: ctx.items[which],
      pre: spec.preprocessing,
      augment: 'none',
      batchSize: B,
      seed: spec.seed,
      epoch: 0,
      shuffle: false,
    });
  };
  const predict = (which: 'val' | 'test', params: Map<string, Tensor>) =>
    predictBatches(evalSession, evalProgram, params, evalBatches(which), rowDims, C);
  // per epoch only the point figures matter (no bootstrap); the final report has the intervals
  const evaluate = async (which: 'val' | 'test', params: Map<string, Tensor>): Promise<EvaluationReport> => {
    const r = await predict(which, params);
    return evaluatePredictions(which, spec.classes, r.probs, r.labels, r.files, 10, { resamples: 0 });
  };

  const save = async (path: string, tensors: Map<string, Tensor>, p: Progress) =>
    saveCheckpoint(path, tensors, { progress: p, savedAt: new Date().toISOString() });

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
        ctx.methodPrepared.afterStep?.({
          epoch,
          step: p.step,
          batchFiles: p.files,
          count: p.count,
          logits: out[LOGITS].data as Float32Array,
        });
        const loss = (out[LOSS].data as Float32Array)[0];
        if (!Number.isFinite(loss))
          throw new AttuneError(
            'diverged',
            `Training diverged at epoch ${epoch + 1}, step ${p.step + 1} (loss is ${loss}).`,
            'Lower the learning rate (e.g. divide it by 10) and start a new run.',
          );
        const pred = argmaxRows(out[LOGITS].data as Float32Array, p.count, C);
        for (let r = 0; r < p.count; r++) if (pred[r] === p.labels[r]) correct++;
        lossSum += loss * p.count;
        seen += p.count;
        for (const k of trainProgram.scalars)
          if (k !== LOSS) diagSums[k] = (diagSums[k] ?? 0) + (out[k].data as Float32Array)[0];
        progress = { ...progress, globalStep: progress.globalStep + 1, stepInEpoch: p.step + 1 };
        emit({
          type: 'step',
          epoch,
          step: p.step + 1,
          stepsPerEpoch,
          loss,
          lr: p.lr,
          imagesPerSecond: (seen * 1000) / Math.max(1, performance.now() - t0),
          ...(cached ? { cachedFeatures: true } : {}),
        });
      });
      pending.length = 0;
    };
    for await (const bt of trainBatches(epoch)) {
      if (step < progress.stepInEpoch) {
        step++;
        continue;
      }
      const { x, labels, weights } = padBatch(bt, B, rowSize);
      if (weightOf) for (let r = 0; r < bt.count; r++) weights[r] = weightOf[labels[r]];
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
      for (const e of trainProgram.extraInputs)
        feeds[e.name] = e.fill
          ? e.fill({ epoch, step, seed: spec.seed, batchFiles: bt.files, count: bt.count })
          : e.neutral();
      pending.push({ feeds, step, lr, count: bt.count, labels, files: bt.files });
      step++;
      if (pending.length === K) await flush();
      if (opts.signal?.aborted) {
        await flush();
        await save(files.last, state.values, progress);
        await saveStatus(runDir, 'cancelled');
        emit({ type: 'cancelled', runDir, resumable: true });
        await releaseAll();
        return {
          runDir,
          status: 'cancelled',
          bestEpoch: progress.bestEpoch,
          bestValAccuracy: progress.bestValAccuracy,
          selectedBy: spec.selectBy,
          bestValScore: progress.bestScore ?? progress.bestValAccuracy,
          provider: trainSession.provider,
        };
      }
    }
    await flush();
    const params = state.params();
    const val = ctx.items.val.length ? await evaluate('val', params) : undefined;
    const valAccuracy = val?.accuracy ?? correct / Math.max(1, seen);
    // without a validation split the only figure is training accuracy
    const score = val ? selectionScore(val, spec.selectBy) : valAccuracy;
    const best = score > (progress.bestScore ?? progress.bestValAccuracy);
    progress = {
      ...progress,
      epoch: epoch + 1,
      stepInEpoch: 0,
      ...(best ? { bestEpoch: epoch, bestValAccuracy: valAccuracy, bestScore: score } : {}),
    };
    if (best) await save(files.best, params, progress);
    await save(files.last, state.values, progress);
    const diagnostics: Record<string, number> = {};
    for (const [k, v] of Object.entries(diagSums)) diagnostics[k.replace(/^attune_/, '')] = v / Math.max(1, step);
    if (ctx.methodPrepared.epochDiagnostics && !cached && ctx.items.val.length)
      Object.assign(diagnostics, await ctx.methodPrepared.epochDiagnostics(params, evalBatches('val')));
    const ev: EngineEvent = {
      type: 'epoch',
      epoch,
      epochs: hyper.epochs,
      trainLoss: lossSum / Math.max(1, seen),
      trainAccuracy: correct / Math.max(1, seen),
      valLoss: val?.loss ?? NaN,
      valAccuracy,
      ...(val ? { valBalancedAccuracy: val.balancedAccuracy, valMacroF1: val.macroF1 } : {}),
      selectedBy: spec.selectBy,
      seconds: (performance.now() - t0) / 1000,
      best,
      diagnostics,
    };
    emit(ev);
    await appendMetrics(runDir, ev);
  }

  // final evaluation with the best weights, calibrated by a temperature fitted on val (the export folds it in)
  emit({ type: 'phase', phase: 'evaluate', detail: 'best epoch, calibration, intervals' });
  const bestParams = (await loadCheckpoint(files.best)).tensors;
  const valRaw = ctx.items.val.length ? await predict('val', bestParams) : undefined;
  const testRaw = ctx.items.test.length ? await predict('test', bestParams) : undefined;
  const fit = valRaw ? fitTemperature(valRaw.logits, valRaw.labels, C, 'val') : undefined;
  const T = fit?.temperature ?? 1;
  const report = (r: NonNullable<typeof valRaw>, which: 'val' | 'test') =>
    evaluatePredictions(which, spec.classes, temperedSoftmax(r.logits, C, T), r.labels, r.files);
  const val = valRaw && report(valRaw, 'val');
  const test = testRaw && report(testRaw, 'test');
  const uncalibrated =
    testRaw &&
    evaluatePredictions('test', spec.classes, testRaw.probs, testRaw.labels, testRaw.files, 10, { resamples: 0 });
  const calibration: CalibrationSummary | undefined = fit && {
    ...fit,
    ...(test && uncalibrated
      ? {
          test: {
            eceBefore: uncalibrated.ece,
            eceAfter: test.ece,
            reliabilityBefore: uncalibrated.calibration,
            reliabilityAfter: test.calibration,
          },
        }
      : {}),
  };
  const selection = { selectedBy: spec.selectBy, bestValScore: progress.bestScore ?? progress.bestValAccuracy };
  await writeJsonAtomic(files.evaluation, {
    classes: spec.classes,
    bestEpoch: progress.bestEpoch,
    ...selection,
    balance: spec.balance,
    calibration,
    val,
    test,
  });
  // calibrated probabilities (what the export answers) and the raw logits (to recalibrate or compare runs)
  const rows = (r: typeof valRaw) =>
    r && {
      probs: Array.from(temperedSoftmax(r.logits, C, T)),
      logits: Array.from(r.logits),
      labels: r.labels,
      files: r.files,
    };
  await writeJsonAtomic(files.predictions, {
    classes: spec.classes,
    temperature: T,
    val: rows(valRaw),
    test: rows(testRaw),
  });
  await saveStatus(runDir, 'done', {
    bestEpoch: progress.bestEpoch,
    bestValAccuracy: progress.bestValAccuracy,
    ...selection,
    testAccuracy: test?.accuracy,
  });
  await releaseAll();
  emit({
    type: 'done',
    runDir,
    bestEpoch: progress.bestEpoch,
    bestValAccuracy: progress.bestValAccuracy,
    ...selection,
    testAccuracy: test?.accuracy,
  });
  return {
    runDir,
    status: 'done',
    bestEpoch: progress.bestEpoch,
    bestValAccuracy: progress.bestValAccuracy,
    ...selection,
    calibration,
    test,
    val,
    provider: trainSession.provider,
  };
}
