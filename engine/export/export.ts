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
import { modelCard } from './model-card';
import { describeValues, inputChannels } from '../preprocessing';

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
}

export function exportMetadata(spec: RunSpec, facts: Record<string, unknown>, test: EvaluationReport | undefined): Record<string, string> {
  return {
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
    'attune.metrics': JSON.stringify(test ? { accuracy: test.accuracy, balancedAccuracy: test.balancedAccuracy, macroF1: test.macroF1, ece: test.ece, count: test.count } : {}),
  };
}

export async function exportRun(runDir: string, outDir: string, opts: { onEvent?: EventSink; verifyImages?: number; signal?: AbortSignal } = {}): Promise<ExportResult> {
  const checkCancel = () => {
    if (opts.signal?.aborted) throw new AttuneError('cancelled', 'The export was cancelled; files written so far are complete but unverified.', 'Export again to get a verified model.');
  };
  runDir = resolve(runDir);
  const files = runFiles(runDir);
  if (!existsSync(files.best)) throw new AttuneError('run-untrained', `${runDir} has no trained weights yet.`, 'Finish (or resume) training first: `attune train --out <runDir> …`.');
  const spec = await loadRunSpec(runDir);
  const split = await loadSplit(files.split);
  const best = (await loadCheckpoint(files.best)).tensors;
  const ctx = await buildRunContext(spec, split, runDir, { onEvent: opts.onEvent });
  const facts = ctx.methodPrepared.describe();
  const evaluation = existsSync(files.evaluation) ? (JSON.parse(await readFile(files.evaluation, 'utf8')) as { test?: EvaluationReport }) : {};
  const merged = withProbabilities(ctx.methodPrepared.merge(ctx.prepared.model, best), spec.classes.length);
  merged.metadata = { ...merged.metadata, ...exportMetadata(spec, facts, evaluation.test) };
  merged.producer = 'attune';

  checkCancel();
  const modelPath = join(outDir, 'model.onnx');
  const bytes = [...merged.graph.initializers.values()].reduce((a, t) => a + t.data.byteLength, 0);
  await saveModel(merged, modelPath, { externalData: bytes > EXTERNAL_DATA_BYTES });
  const labelsPath = join(outDir, 'labels.txt');
  await writeFileAtomic(labelsPath, spec.classes.join('\n') + '\n');

  checkCancel();
  // verification: the written file against the engine's eval program
  const { maxAbsDiff, count } = await verifyExport(modelPath, ctx, best, opts.verifyImages ?? 8);
  if (!(maxAbsDiff < 1e-4))
    throw new AttuneError('export-mismatch', `The exported model's probabilities differ from training by ${maxAbsDiff.toExponential(2)}.`, 'This is a bug in Attune; please report it with the run folder.');
  const cardPath = join(outDir, 'README.md');
  await writeFileAtomic(cardPath, modelCard(spec, ctx.method.title, facts, evaluation.test, maxAbsDiff));
  const extraFiles = (await ctx.methodPrepared.writeExtras?.(outDir, ctx.prepared.model, best)) ?? [];
  await writeJsonAtomic(join(outDir, 'export-report.json'), { runDir, modelPath, maxAbsDiff, verifiedImages: count, exportedAt: new Date().toISOString(), extraFiles });
  opts.onEvent?.({ type: 'log', level: 'info', message: `Exported ${modelPath} (verified on ${count} images, max abs diff ${maxAbsDiff.toExponential(1)}).` });
  return { modelPath, labelsPath, cardPath, maxAbsDiff, verifiedImages: count, extraFiles };
}

async function verifyExport(modelPath: string, ctx: Awaited<ReturnType<typeof buildRunContext>>, best: Map<string, Tensor>, n: number): Promise<{ maxAbsDiff: number; count: number }> {
  const items = [...ctx.items.test, ...ctx.items.val, ...ctx.items.train].slice(0, n);
  const pre = ctx.spec.preprocessing;
  const S = pre.size;
  const C = ctx.spec.classes.length;
  const program = await compileEvalProgram(ctx.prepared.model, ctx.methodPrepared.program, items.length);
  const engine = await createSession(program.model, { provider: 'cpu' });
  const batches = () => defaultLoader({ items, pre, augment: 'none', batchSize: items.length, seed: 0, epoch: 0, shuffle: false });
  const Cin = inputChannels(pre);
  const ref = await predictBatches(engine, program, best, batches(), [Cin, S, S], C);
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


