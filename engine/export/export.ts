/**
 * Export: the original architecture with trained weights merged in (no adapter ops), the new head
 * and a softmax, metadata (labels, preprocessing, method, metrics), labels.txt and a model card.
 * Verified by loading the written file in a fresh onnxruntime session and comparing its
 * probabilities with the engine's eval program on test images.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import { OUTPUT_NAME, withProbabilities } from '../backbone/prepare';
import { loadSplit } from '../data/split';
import type { EvaluationReport } from '../evaluate/metrics';
import { tensor, type Tensor } from '../ir/tensor';
import { saveModel } from '../onnx/io';
import { compileEvalProgram } from '../programs/compile';
import { createSession } from '../runtime/session';
import { defaultLoader } from '../data/loader';
import { loadCheckpoint } from '../run/checkpoint';
import { loadRunSpec, runFiles, type RunSpec } from '../run/spec';
import { buildRunContext } from '../run/setup';
import { predictBatches } from '../evaluate/predict-batches';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { describeValues, inputChannels } from '../preprocessing';
import { modelCard, type SavedEvaluation } from './model-card';
import { temperedSoftmax, type CalibrationSummary } from '../evaluate/calibration';
import { coverageCurve, operatingPoint, type CoveragePoint, type OperatingPoint } from '../evaluate/roc';
import {
  checkImageModel,
  decodedRgb8,
  modelImageUnsupported,
  withImagePreprocessing,
  type ImageModelCheck,
} from './model-image';

/** protobuf caps a single file at 2 GiB; larger models go to an external data file */
const EXTERNAL_DATA_BYTES = 1.5 * 1024 ** 3;

export interface ExportResult {
  modelPath: string;
  labelsPath: string;
  cardPath: string;
  /** max |p_export − p_engine| over the verification images */
  maxAbsDiff: number;
  verifiedImages: number;
  extraFiles: string[];
  /** model-image.onnx (uint8 RGB images in), when the preprocessing can run in the graph */
  imageModelPath?: string;
  imageModelCheck?: ImageModelCheck;
  /** why there is no model-image.onnx */
  imageModelSkipped?: string;
  operatingPoint?: OperatingPoint;
  temperature: number;
}

export interface ExportOptions {
  onEvent?: EventSink;
  verifyImages?: number;
  signal?: AbortSignal;
  /** a decision threshold for one class, fitted on val and reported on test, stored in the metadata */
  operatingPoint?: { positiveClass: string; metric: 'sensitivity' | 'specificity'; atLeast: number };
  /** "refer below confidence X": stored in the metadata and the card with its coverage and accuracy on test */
  referBelow?: number;
}

interface SavedSplitPredictions {
  probs: number[];
  labels: number[];
  files: string[];
}

function exportMetadata(
  spec: RunSpec,
  facts: Record<string, unknown>,
  test: EvaluationReport | undefined,
  extra: { calibration?: CalibrationSummary; operatingPoint?: OperatingPoint; referBelow?: number } = {},
): Record<string, string> {
  return {
    ...(extra.calibration
      ? {
          'attune.calibration': JSON.stringify({
            method: 'temperature',
            temperature: extra.calibration.temperature,
            fittedOn: extra.calibration.split,
            images: extra.calibration.count,
            eceTestBefore: extra.calibration.test?.eceBefore,
            eceTestAfter: extra.calibration.test?.eceAfter,
          }),
        }
      : {}),
    ...(extra.operatingPoint ? { 'attune.operating_point': JSON.stringify(extra.operatingPoint) } : {}),
    ...(extra.referBelow !== undefined ? { 'attune.refer_below': String(extra.referBelow) } : {}),
    'attune.format': '1',
    'attune.output': OUTPUT_NAME,
    'attune.labels': JSON.stringify(spec.classes),
    'attune.preprocessing': JSON.stringify(spec.preprocessing),
    // the value mapping is inside attune.preprocessing (values); these say it in words and give the input layout
    'attune.value_mapping': describeValues(spec.preprocessing.values),
    'attune.input_channels': String(inputChannels(spec.preprocessing)),
    'attune.method': spec.method,
    'attune.method_settings': JSON.stringify({ ...spec.methodOptions, ...facts, optimizer: spec.hyper.optimizer }),
    'attune.backbone_sha256': spec.backbone.sha256,
    'attune.hyperparameters': JSON.stringify(spec.hyper),
    'attune.metrics': JSON.stringify(
      test
        ? {
            accuracy: test.accuracy,
            balancedAccuracy: test.balancedAccuracy,
            macroF1: test.macroF1,
            ece: test.ece,
            count: test.count,
            ...(test.estimates
              ? {
                  intervals: test.estimates,
                  perClass: test.perClass.map((c) => ({
                    name: c.name,
                    support: c.support,
                    recall: c.recallEstimate,
                    precision: c.precisionEstimate,
                    auc: c.auc,
                  })),
                }
              : {}),
          }
        : {},
    ),
  };
}

/**
 * The deployable classifier of a trained run, in memory: trained weights merged, softmax(logits / T) with the
 * temperature fitted after training, labels/preprocessing metadata. What model.onnx holds (and what
 * explanations of a run are computed on before it is exported).
 */
export async function calibratedClassifier(runDir: string, onEvent?: EventSink) {
  const files = runFiles(runDir);
  if (!existsSync(files.best))
    throw new AttuneError(
      'run-untrained',
      `${runDir} has no trained weights yet.`,
      'Finish (or resume) training first: `attune train --out <runDir> …`.',
    );
  const spec = await loadRunSpec(runDir);
  const split = await loadSplit(files.split);
  const best = (await loadCheckpoint(files.best)).tensors;
  const ctx = await buildRunContext(spec, split, runDir, { onEvent });
  const facts = ctx.methodPrepared.describe();
  const evaluation: SavedEvaluation = existsSync(files.evaluation)
    ? JSON.parse(await readFile(files.evaluation, 'utf8'))
    : {};
  const temperature = evaluation.calibration?.temperature ?? 1;
  const merged = withProbabilities(
    ctx.methodPrepared.merge(ctx.prepared.model, best),
    spec.classes.length,
    temperature,
  );
  merged.metadata = {
    ...merged.metadata,
    ...exportMetadata(spec, facts, evaluation.test, { calibration: evaluation.calibration }),
  };
  merged.producer = 'attune';
  return { spec, ctx, best, facts, evaluation, temperature, merged };
}

export async function exportRun(runDir: string, outDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const checkCancel = () => {
    if (opts.signal?.aborted)
      throw new AttuneError(
        'cancelled',
        'The export was cancelled; files written so far are complete but unverified.',
        'Export again to get a verified model.',
      );
  };
  runDir = resolve(runDir);
  const files = runFiles(runDir);
  const { spec, ctx, best, facts, evaluation, temperature, merged } = await calibratedClassifier(runDir, opts.onEvent);
  const op = opts.operatingPoint
    ? await fitOperatingPoint(files.predictions, spec.classes, opts.operatingPoint)
    : undefined;
  const referral =
    opts.referBelow !== undefined
      ? await referralOnTest(files.predictions, spec.classes.length, opts.referBelow)
      : undefined;
  merged.metadata = {
    ...merged.metadata,
    ...exportMetadata(spec, facts, evaluation.test, {
      calibration: evaluation.calibration,
      operatingPoint: op,
      referBelow: opts.referBelow,
    }),
  };

  checkCancel();
  const modelPath = join(outDir, 'model.onnx');
  const bytes = [...merged.graph.initializers.values()].reduce((a, t) => a + t.data.byteLength, 0);
  await saveModel(merged, modelPath, { externalData: bytes > EXTERNAL_DATA_BYTES });
  const labelsPath = join(outDir, 'labels.txt');
  await writeFileAtomic(labelsPath, spec.classes.join('\n') + '\n');

  checkCancel();
  // verification: the written file against the engine's eval program
  const { maxAbsDiff, count } = await verifyExport(modelPath, ctx, best, opts.verifyImages ?? 8, temperature);
  if (!(maxAbsDiff < 1e-4))
    throw new AttuneError(
      'export-mismatch',
      `The exported model's probabilities differ from training by ${maxAbsDiff.toExponential(2)}.`,
      'This is a bug in Attune; please report it with the run folder.',
    );

  checkCancel();
  // model-image.onnx: the same classifier with preprocessing in the graph, checked against the engine's pipeline
  const checkFiles = [...ctx.items.test, ...ctx.items.val].slice(0, opts.verifyImages ?? 8).map((i) => i.file);
  const imageModelSkipped = modelImageUnsupported(merged, spec.preprocessing) ?? (await notPhotos(checkFiles));
  let imageModelPath: string | undefined;
  let imageModelCheck: ImageModelCheck | undefined;
  if (!imageModelSkipped) {
    const imageModel = withImagePreprocessing(merged, spec.preprocessing);
    imageModelPath = join(outDir, 'model-image.onnx');
    await saveModel(imageModel, imageModelPath, { externalData: bytes > EXTERNAL_DATA_BYTES });
    imageModelCheck = await checkImageModel(
      await readFile(imageModelPath),
      await readFile(modelPath),
      checkFiles,
      spec.preprocessing,
    );
  }
  const cardPath = join(outDir, 'README.md');
  await writeFileAtomic(
    cardPath,
    modelCard(spec, ctx.method.title, facts, evaluation, maxAbsDiff, {
      operatingPoint: op,
      referral,
      imageModelCheck,
      imageModelSkipped,
    }),
  );
  const extraFiles = (await ctx.methodPrepared.writeExtras?.(outDir, ctx.prepared.model, best)) ?? [];
  await writeJsonAtomic(join(outDir, 'export-report.json'), {
    runDir,
    modelPath,
    maxAbsDiff,
    verifiedImages: count,
    temperature,
    ...(op ? { operatingPoint: op } : {}),
    ...(referral ? { referral } : {}),
    ...(imageModelPath ? { imageModelPath, imageModelCheck } : { imageModelSkipped }),
    exportedAt: new Date().toISOString(),
    extraFiles,
  });
  opts.onEvent?.({
    type: 'log',
    level: 'info',
    message: `Exported ${modelPath} (verified on ${count} images, max abs diff ${maxAbsDiff.toExponential(1)}).`,
  });
  if (imageModelCheck)
    opts.onEvent?.({
      type: 'log',
      level: 'info',
      message: `model-image.onnx agrees with the engine's preprocessing on ${(imageModelCheck.top1Agreement * 100).toFixed(0)} % of ${imageModelCheck.images} images (max probability difference ${imageModelCheck.maxProbabilityDiff.toExponential(1)}).`,
    });
  return {
    modelPath,
    labelsPath,
    cardPath,
    maxAbsDiff,
    verifiedImages: count,
    extraFiles,
    imageModelPath,
    imageModelCheck,
    imageModelSkipped,
    operatingPoint: op,
    temperature,
  };
}

async function readPredictions(path: string): Promise<{ val?: SavedSplitPredictions; test?: SavedSplitPredictions }> {
  if (!existsSync(path))
    throw new AttuneError(
      'run-unevaluated',
      'This run has no saved validation and test predictions.',
      'Train it again with this version of Attune.',
    );
  return JSON.parse(await readFile(path, 'utf8')) as { val?: SavedSplitPredictions; test?: SavedSplitPredictions };
}

/** "Refer below confidence X" on the test split: how many images the model still answers, and how well. */
async function referralOnTest(predictionsPath: string, C: number, referBelow: number): Promise<CoveragePoint> {
  if (!(referBelow >= 0 && referBelow < 1))
    throw new AttuneError(
      'usage',
      `"Refer below confidence" must be between 0 and 1, not ${referBelow}.`,
      'For example 0.8 refers every image whose top probability is under 80 %.',
    );
  const test = (await readPredictions(predictionsPath)).test;
  if (!test?.labels.length)
    throw new AttuneError(
      'run-unevaluated',
      'This run had no test images to measure a referral rule on.',
      'Train again with a test split.',
    );
  return coverageCurve(test.probs, test.labels, C, [referBelow])[0];
}

/** The operating point from the calibrated predictions training saved: fitted on val, reported on test. */
export async function fitOperatingPoint(
  predictionsPath: string,
  classes: string[],
  want: NonNullable<ExportOptions['operatingPoint']>,
): Promise<OperatingPoint> {
  const c = classes.indexOf(want.positiveClass);
  if (c < 0)
    throw new AttuneError(
      'usage',
      `There is no class "${want.positiveClass}" in this run.`,
      `Choose one of: ${classes.join(', ')}.`,
    );
  if (!(want.atLeast > 0 && want.atLeast <= 1))
    throw new AttuneError(
      'usage',
      `The ${want.metric} target must be between 0 and 1, not ${want.atLeast}.`,
      'For example 0.95 for "sensitivity ≥ 95 %".',
    );
  const saved = await readPredictions(predictionsPath);
  if (!saved.val?.labels.length)
    throw new AttuneError(
      'run-unevaluated',
      'This run had no validation images, so no threshold can be fitted without touching the test split.',
      'Train again with a validation split.',
    );
  const target = { metric: want.metric, atLeast: want.atLeast };
  return operatingPoint(
    classes,
    c,
    target,
    { split: 'val', ...saved.val },
    saved.test?.labels.length ? { split: 'test', ...saved.test } : undefined,
  );
}

/** Why model-image.onnx does not fit these images (DICOM, 16-bit, multispectral: they need the value mapping). */
async function notPhotos(files: string[]): Promise<string | undefined> {
  for (const f of files) {
    if (!(await decodedRgb8(f)))
      return 'the images are DICOM, 16-bit or multispectral files, whose values need the recorded value mapping, while model-image.onnx takes 8-bit RGB pixels';
  }
  return undefined;
}

async function verifyExport(
  modelPath: string,
  ctx: Awaited<ReturnType<typeof buildRunContext>>,
  best: Map<string, Tensor>,
  n: number,
  temperature: number,
): Promise<{ maxAbsDiff: number; count: number }> {
  const items = [...ctx.items.test, ...ctx.items.val, ...ctx.items.train].slice(0, n);
  const pre = ctx.spec.preprocessing;
  const S = pre.size;
  const C = ctx.spec.classes.length;
  const program = await compileEvalProgram(ctx.prepared.model, ctx.methodPrepared.program, items.length);
  const engine = await createSession(program.model, { provider: 'cpu' });
  const batches = () =>
    defaultLoader({ items, pre, augment: 'none', batchSize: items.length, seed: 0, epoch: 0, shuffle: false });
  const Cin = inputChannels(pre);
  const raw = await predictBatches(engine, program, best, batches(), [Cin, S, S], C);
  // the engine's calibrated probabilities: softmax(logits / T), as the export computes them
  const ref = { probs: temperature === 1 ? raw.probs : temperedSoftmax(raw.logits, C, temperature) };
  const exported = await createSession(await readFile(modelPath), { provider: 'cpu' });
  let maxAbsDiff = 0;
  for await (const bt of batches()) {
    const out = await exported.run({ [exported.inputNames[0]]: tensor('float32', [bt.count, Cin, S, S], bt.x) });
    const p = out[OUTPUT_NAME].data as Float32Array;
    for (let i = 0; i < bt.count * C; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(p[i] - ref.probs[i]));
  }
  await Promise.all([engine.release(), exported.release()]);
  return { maxAbsDiff, count: items.length };
}
