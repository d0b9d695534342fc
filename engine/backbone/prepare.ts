/**
 * Turns a user's ONNX model into a backbone with a new classification head:
 * finds the feature tensor (class-token row after the final norm, or the pooled CNN output),
 * drops the old head, and attaches Gemm(feature, W_h, b_h) for C classes.
 * Backbone initializer names and shapes are kept, so exports map back one to one.
 */
import { AttuneError } from '../errors';
import { Builder } from '../ir/builder';
import { cloneModel, int, producers, pruneDead, type Graph, type Model, type Node } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import { mulberry32 } from '../util/random';

export const HEAD_WEIGHT = 'attune_head.weight';
export const HEAD_BIAS = 'attune_head.bias';
export const FEATURES = 'attune_features';
export const LOGITS = 'attune_logits';
/** The exported model's output: class probabilities. */
export const OUTPUT_NAME = 'probabilities';

export interface FeatureInfo {
  /** tensor in the original graph the features come from */
  source: string;
  /** how the [batch, dim] feature vector is derived from it */
  how: 'head-input' | 'output' | 'class-token' | 'global-pool';
  /** old head nodes that were dropped */
  droppedHead: string[];
  description: string;
}

const HEAD_OPS = new Set(['Gemm', 'MatMul']);

function isConstWeight(g: Graph, name: string): boolean {
  return g.initializers.has(name);
}

/** A trailing linear layer ending at `out`: Gemm, MatMul, or MatMul + Add with constant weights. */
function trailingHead(g: Graph, out: string): { input: string; nodes: Node[] } | undefined {
  const prod = producers(g);
  let n = prod.get(out);
  const nodes: Node[] = [];
  if (n?.op === 'Add') {
    const [a, b] = n.inputs;
    const mm = prod.get(isConstWeight(g, b) ? a : b);
    if (mm?.op !== 'MatMul') return undefined;
    nodes.push(n);
    n = mm;
  }
  if (!n || !HEAD_OPS.has(n.op) || !isConstWeight(g, n.inputs[1])) return undefined;
  nodes.push(n);
  return { input: n.inputs[0], nodes };
}

/** Which model output carries the representation: logits first, then pooled, then the sequence. */
function chooseOutput(g: Graph): string {
  const names = g.outputs.map((o) => o.name);
  return (
    names.find((n) => /logits/i.test(n)) ??
    names.find((n) => /pool/i.test(n)) ??
    names.find((n) => /last_hidden_state|features/i.test(n)) ??
    names[0]
  );
}

/**
 * Locates the feature tensor. `rankOf` gives the static rank of any tensor (from folding).
 * With `override`, that tensor is used: rank 3 → class token, rank 4 → global average pool.
 */
export function findFeatures(g: Graph, rankOf: (name: string) => number | undefined, override?: string): FeatureInfo {
  const reduceBy = (source: string, base: Omit<FeatureInfo, 'how' | 'description' | 'source'>): FeatureInfo => {
    const rank = rankOf(source);
    if (rank === 2)
      return {
        ...base,
        source,
        how: base.droppedHead.length ? 'head-input' : 'output',
        description: `the [batch, dim] tensor "${source}"`,
      };
    if (rank === 3) return { ...base, source, how: 'class-token', description: `the class-token row of "${source}"` };
    if (rank === 4)
      return { ...base, source, how: 'global-pool', description: `"${source}" averaged over its spatial positions` };
    throw new AttuneError(
      'feature-rank',
      `Tensor "${source}" has rank ${rank}; Attune needs a [batch, dim], [batch, tokens, dim] or [batch, channels, h, w] tensor.`,
      'Pass a different tensor name with --feature.',
    );
  };
  if (override) {
    const known = g.nodes.some((n) => n.outputs.includes(override)) || g.inputs.some((i) => i.name === override);
    if (!known)
      throw new AttuneError(
        'feature-missing',
        `The model has no tensor named "${override}".`,
        'Check the name (for example with Netron) and pass it again with --feature.',
      );
    return reduceBy(override, { droppedHead: [] });
  }
  const out = chooseOutput(g);
  const head = trailingHead(g, out);
  if (head) return reduceBy(head.input, { droppedHead: head.nodes.map((n) => n.name) });
  return reduceBy(out, { droppedHead: [] });
}

/** The new head: logits = features · Wᵀ + b. */
export function headNode(): Node {
  return {
    name: 'attune_head',
    op: 'Gemm',
    domain: '',
    inputs: [FEATURES, HEAD_WEIGHT, HEAD_BIAS],
    outputs: [LOGITS],
    attrs: { transB: int(1) },
  };
}

export interface PreparedBackbone {
  model: Model;
  features: FeatureInfo;
  featureDim: number;
  numClasses: number;
}

/**
 * Cuts the graph at the features and adds the new head. `featureShape` is the static shape of the
 * feature source (from folding). The head is initialised like torch.nn.Linear (uniform ±1/√dim, bias 0), seeded.
 */
export function attachHead(
  model: Model,
  features: FeatureInfo,
  sourceShape: number[],
  numClasses: number,
  seed: number,
  head?: { weight: Tensor; bias: Tensor },
): PreparedBackbone {
  const m = cloneModel(model);
  const g = m.graph;
  const b = new Builder(g, 'attune', 'float32');
  const featureDim = sourceShape[sourceShape.length - (features.how === 'global-pool' ? 3 : 1)];
  let f = features.source;
  if (features.how === 'class-token') f = b.op('Gather', [f, b.ints([0])], { axis: int(1) });
  if (features.how === 'global-pool') f = b.op('GlobalAveragePool', [f]);
  // a fixed [batch, dim] view: Flatten keeps a dynamic batch in exports
  g.nodes.push({
    name: 'attune_features_flatten',
    op: 'Flatten',
    domain: '',
    inputs: [f],
    outputs: [FEATURES],
    attrs: { axis: int(1) },
  });
  const rng = mulberry32(seed);
  const bound = 1 / Math.sqrt(featureDim);
  const w =
    head?.weight ??
    tensor(
      'float32',
      [numClasses, featureDim],
      Array.from({ length: numClasses * featureDim }, () => (rng() * 2 - 1) * bound),
    );
  const bias = head?.bias ?? tensor('float32', [numClasses]);
  g.initializers.set(HEAD_WEIGHT, w);
  g.initializers.set(HEAD_BIAS, bias);
  g.nodes.push(headNode());
  const batch = g.inputs[0]?.shape[0] ?? 'batch';
  g.outputs = [{ name: LOGITS, dtype: 'float32', shape: [batch, numClasses] }];
  pruneDead(g);
  return { model: m, features, featureDim, numClasses };
}

/**
 * Adds softmax and names the output; keeps the input's dynamic batch. A `temperature` ≠ 1 (temperature
 * scaling, fitted after training) divides the logits first: softmax(logits / T).
 */
export function withProbabilities(merged: Model, numClasses: number, temperature = 1): Model {
  const m = cloneModel(merged);
  let logits = LOGITS;
  if (temperature !== 1) {
    m.graph.initializers.set('attune_temperature', tensor('float32', [], [temperature]));
    logits = 'attune_logits_tempered';
    m.graph.nodes.push({
      name: 'attune_temperature_scale',
      op: 'Div',
      domain: '',
      inputs: [LOGITS, 'attune_temperature'],
      outputs: [logits],
      attrs: {},
    });
  }
  m.graph.nodes.push({
    name: 'attune_softmax',
    op: 'Softmax',
    domain: '',
    inputs: [logits],
    outputs: [OUTPUT_NAME],
    attrs: { axis: int(-1) },
  });
  m.graph.outputs = [{ name: OUTPUT_NAME, dtype: 'float32', shape: [m.graph.inputs[0].shape[0], numClasses] }];
  pruneDead(m.graph);
  return m;
}
