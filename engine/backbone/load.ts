/**
 * Loads a user's backbone and everything derived from it once: its hash, static shapes at batch 1,
 * the feature tensor, and default preprocessing. Shared by training, export and the model check.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { foldConstants, type ShapeMap } from '../ir/fold';
import type { Model } from '../ir/graph';
import { parameterCount } from '../ir/parameters';
import { decodeModel } from '../onnx/io';
import { AttuneError } from '../errors';
import {
  defaultPreprocessing,
  IMAGENET_NORMALISATION,
  normalisePreprocessing,
  VIT_NORMALISATION,
  type Preprocessing,
} from '../preprocessing';
import { attachHead, findFeatures, type FeatureInfo, type PreparedBackbone } from './prepare';
import type { Tensor } from '../ir/tensor';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LoadedBackbone {
  path: string;
  sha256: string;
  model: Model;
  /** shapes at batch 1 after folding */
  shapes: ShapeMap;
  features: FeatureInfo;
  featureDim: number;
  inputName: string;
  inputSize: number;
  preprocessing: Preprocessing;
  parameterCount: number;
}

/**
 * Preprocessing: what the model's metadata records (an Attune export), else the family convention:
 * ViT/DeiT-style exports (timm, torchvision ViT, HF in21k) use mean = std = 0.5; CNNs use ImageNet statistics.
 */
export function guessPreprocessing(model: Model, path: string, size: number): Preprocessing {
  const recorded = model.metadata['attune.preprocessing'];
  if (recorded) return normalisePreprocessing(JSON.parse(recorded) as Preprocessing);
  const isVit =
    /vit|deit|beit/i.test(basename(path)) ||
    model.graph.nodes.some((n) => n.op === 'LayerNormalization' || n.op === 'Softmax');
  const norm = isVit ? VIT_NORMALISATION : IMAGENET_NORMALISATION;
  return defaultPreprocessing(size, norm.mean, norm.std);
}

export async function loadBackbone(path: string, featureOverride?: string): Promise<LoadedBackbone> {
  if (!existsSync(path))
    throw new AttuneError('model-missing', `No model file at ${path}.`, 'Check the path or choose the model again.');
  const bytes = readFileSync(path);
  const model = decodeModel(bytes, dirname(path));
  const inp = model.graph.inputs[0];
  if (!inp || inp.shape.length !== 4)
    throw new AttuneError(
      'model-input',
      `The model's input "${inp?.name}" is not an image batch [batch, 3, height, width].`,
      'Choose an image classification or feature-extraction model.',
    );
  const size = typeof inp.shape[3] === 'number' ? inp.shape[3] : 224;
  // 3 for RGB backbones; N for an Attune export whose input was widened to N bands (widen-input.ts)
  const channels = typeof inp.shape[1] === 'number' ? inp.shape[1] : 3;
  const { shapes } = await foldConstants(model, { [inp.name]: [1, channels, size, size] });
  const features = findFeatures(model.graph, (n) => shapes.get(n)?.dims.length, featureOverride);
  const src = shapes.get(features.source)!.dims;
  const featureDim = features.how === 'global-pool' ? src[1] : src[src.length - 1];
  return {
    path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    model,
    shapes,
    features,
    featureDim,
    inputName: inp.name,
    inputSize: size,
    preprocessing: guessPreprocessing(model, path, size),
    parameterCount: parameterCount(model.graph),
  };
}

/** The loaded backbone cut at the features it found, with a new `numClasses` head (or the given one). */
export function withNewHead(
  bb: LoadedBackbone,
  numClasses: number,
  seed: number,
  head?: { weight: Tensor; bias: Tensor },
): PreparedBackbone {
  return attachHead(bb.model, bb.features, bb.shapes.get(bb.features.source)!.dims, numClasses, seed, head);
}
