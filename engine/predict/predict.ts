/**
 * Predictions from an ONNX classifier file: an Attune export (labels and preprocessing from its
 * metadata) or any backbone with logits (preprocessing from the family defaults, labels = indices).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { decodeModel } from '../onnx/io';
import type { Model } from '../ir/graph';
import { guessPreprocessing } from '../backbone/load';
import { loadImageTensor } from '../data/image';
import { tensor } from '../ir/tensor';
import { createSession } from '../runtime/session';
import type { ProviderRequest } from '../runtime/providers';
import type { EventSink } from '../events';
import { AttuneError } from '../errors';
import { inputChannels, type Preprocessing, type VoiRule } from '../preprocessing';
import { checkBandSelection, type BandSelection } from '../data/bands';

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
  /** overrides the VOI rule recorded in the model (DICOM and 16-bit images) */
  window?: VoiRule;
  /** overrides the value offset recorded in the model (16-bit PNG/TIFF) */
  valueOffset?: number;
  /** overrides the recorded band mapping (same channel count as the model's input) */
  bands?: BandSelection;
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

export function classifierInfo(
  metadata: Record<string, string>,
  modelForGuess: Parameters<typeof guessPreprocessing>[0],
  path: string,
  size: number,
): ClassifierInfo {
  return {
    preprocessing: guessPreprocessing(modelForGuess, path, size),
    labels: metadata['attune.labels'] ? (JSON.parse(metadata['attune.labels']) as string[]) : undefined,
    outputsProbabilities: metadata['attune.output'] === 'probabilities',
  };
}

/** The recorded preprocessing with the caller's overrides; the band mapping must keep the model's channel count. */
function withOverrides(
  pre: Preprocessing,
  opts: Pick<PredictOptions, 'window' | 'valueOffset' | 'bands'>,
): Preprocessing {
  const values = {
    ...pre.values,
    ...(opts.window ? { voi: opts.window } : {}),
    ...(opts.valueOffset !== undefined ? { offset: opts.valueOffset } : {}),
  };
  if (opts.bands) {
    const b = pre.values.bands;
    if (!b)
      throw new AttuneError(
        'usage',
        'This model was not trained on multispectral images; --bands does not apply.',
        'Leave out --bands.',
      );
    checkBandSelection(opts.bands, b.bandCount);
    if (inputChannels({ values: { ...values, bands: { ...b, selection: opts.bands } } }) !== inputChannels(pre)) {
      throw new AttuneError(
        'usage',
        `The model takes ${inputChannels(pre)} input channels; --bands ${opts.bands.mode === 'all' ? 'all' : opts.bands.bands.join(',')} gives a different number.`,
        `Use the model's own mapping (${b.selection.mode === 'all' ? 'all' : b.selection.bands.join(',')}).`,
      );
    }
    values.bands = { ...b, selection: opts.bands };
  }
  return { ...pre, values };
}

/** A classifier file read once: its bytes (for the session) and its decoded graph and metadata. */
export interface ClassifierFile {
  path: string;
  bytes: Uint8Array;
  model: Model;
}

export async function readClassifier(modelPath: string): Promise<ClassifierFile> {
  const bytes = await readFile(modelPath).catch(() => {
    throw new AttuneError('model-missing', `No model file at ${modelPath}.`, 'Check the path to model.onnx.');
  });
  return { path: modelPath, bytes, model: decodeModel(bytes) };
}

/** Predictions of `source` (a path, or a file already read) for `files`. */
export async function predictFiles(
  source: string | ClassifierFile,
  files: string[],
  opts: PredictOptions = {},
): Promise<Prediction[]> {
  const { path: modelPath, bytes, model } = typeof source === 'string' ? await readClassifier(source) : source;
  const inp = model.graph.inputs[0];
  const size = typeof inp.shape[3] === 'number' ? inp.shape[3] : 224;
  const info = classifierInfo(model.metadata, model, basename(modelPath), size);
  info.preprocessing = withOverrides(info.preprocessing, opts);
  const Cin = inputChannels(info.preprocessing);
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
    const x = new Float32Array(chunk.length * Cin * S * S);
    chunk.forEach((c, i) => x.set(c.x, i * Cin * S * S));
    const res = await session.run({ [session.inputNames[0]]: tensor('float32', [chunk.length, Cin, S, S], x) });
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
