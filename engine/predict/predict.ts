/**
 * Predictions from an ONNX classifier file: an Attune export (labels and preprocessing from its
 * metadata) or any backbone with logits (preprocessing from the family defaults, labels = indices).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { decodeModel } from '../onnx/io';
import { guessPreprocessing } from '../backbone/load';
import { loadImageTensor } from '../data/image';
import { tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';
import type { ProviderRequest } from '../runtime/providers';
import type { EventSink } from '../events';
import { AttuneError } from '../errors';
import type { Preprocessing } from '../preprocessing';

export interface Prediction {
  file: string;
  index: number;
  label: string;
  probability: number;
  top: { index: number; label: string; probability: number }[];
}

export interface PredictOptions {
  provider?: ProviderRequest;
  topK?: number;
  batch?: number;
  onEvent?: EventSink;
  /** called for each file that cannot be read; the others are still predicted */
  onError?: (file: string, error: AttuneError) => void;
}

function softmaxInPlace(row: Float32Array): void {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += row[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) row[i] /= sum;
}

export interface ClassifierInfo {
  preprocessing: Preprocessing;
  labels: string[] | undefined;
  outputsProbabilities: boolean;
}

export function classifierInfo(metadata: Record<string, string>, modelForGuess: Parameters<typeof guessPreprocessing>[0], path: string, size: number): ClassifierInfo {
  return {
    preprocessing: guessPreprocessing(modelForGuess, path, size),
    labels: metadata['attune.labels'] ? (JSON.parse(metadata['attune.labels']) as string[]) : undefined,
    outputsProbabilities: metadata['attune.output'] === 'probabilities',
  };
}

export async function predictFiles(modelPath: string, files: string[], opts: PredictOptions = {}): Promise<Prediction[]> {
  const bytes = await readFile(modelPath).catch(() => {
    throw new AttuneError('model-missing', `No model file at ${modelPath}.`, 'Check the path to model.onnx.');
  });
  const model = decodeModel(bytes);
  const inp = model.graph.inputs[0];
  const size = typeof inp.shape[3] === 'number' ? inp.shape[3] : 224;
  const info = classifierInfo(model.metadata, model, basename(modelPath), size);
  const session = await createSession(bytes, { provider: opts.provider, onEvent: opts.onEvent });
  const S = info.preprocessing.size;
  const B = opts.batch ?? 8;
  const out: Prediction[] = [];
  for (let s = 0; s < files.length; s += B) {
    const chunk: { file: string; x: Float32Array }[] = [];
    for (const file of files.slice(s, s + B)) {
      try {
        chunk.push({ file, x: await loadImageTensor(file, info.preprocessing) });
      } catch (e) {
        if (e instanceof AttuneError && opts.onError) opts.onError(file, e);
        else throw e;
      }
    }
    if (!chunk.length) continue;
    const x = new Float32Array(chunk.length * 3 * S * S);
    chunk.forEach((c, i) => x.set(c.x, i * 3 * S * S));
    const res = await session.run({ [session.inputNames[0]]: tensor('float32', [chunk.length, 3, S, S], x) });
    const y = res[session.outputNames[0]];
    const C = y.dims[1];
    chunk.forEach((c, i) => {
      const row = Float32Array.from((y.data as Float32Array).subarray(i * C, (i + 1) * C));
      if (!info.outputsProbabilities) softmaxInPlace(row);
      const order = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b);
      const label = (k: number) => info.labels?.[k] ?? String(k);
      const top = order.slice(0, opts.topK ?? 5).map((k) => ({ index: k, label: label(k), probability: row[k] }));
      out.push({ file: c.file, index: order[0], label: label(order[0]), probability: row[order[0]], top });
    });
    opts.onEvent?.({ type: 'progress', phase: 'predict', done: Math.min(files.length, s + B), total: files.length });
  }
  await session.release();
  return out;
}
