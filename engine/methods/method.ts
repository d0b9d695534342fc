/**
 * One interface for every fine-tuning method (in the spirit of Hugging Face PEFT's tuner classes):
 * which tensors train, how the graph changes, extra loss terms, the update rule, and how to merge
 * on export. Methods live one per module; adding one touches only the registry.
 */
import { HEAD_BIAS, HEAD_WEIGHT, type PreparedBackbone } from '../backbone/prepare';
import type { Graph, Model } from '../ir/graph';
import type { Tensor } from '../ir/tensor';
import type { MethodProgram } from '../programs/compile';
import type { UpdateRule } from '../programs/optimizer';
import type { EventSink } from '../events';
import type { AugmentOptions } from '../data/augment';

export type OptionValue = number | string | boolean;
export type MethodOptions = Record<string, OptionValue>;

export interface OptionSpec {
  name: string;
  /** CLI flag, e.g. --gps-k */
  flag: string;
  description: string;
  default: OptionValue;
  kind: 'number' | 'integer' | 'string' | 'boolean';
  min?: number;
  max?: number;
}

/** Hyper-parameters a method recommends; the user's flags override them. */
export interface MethodDefaults {
  lr: number;
  weightDecay: number;
  epochs: number;
  batch: number;
  warmupEpochs: number;
  labelSmoothing: number;
  clipNorm: number | null;
}

/** What a method may read while it prepares (GPS selection needs the training images). */
export interface MethodContext {
  backbone: PreparedBackbone;
  options: MethodOptions;
  seed: number;
  /**
   * yields training batches, each image as `views` views augmented as the method asks (GPS: its SupCon views);
   * with 2 views the rows are [view 1 of every image; view 2 of every image]
   */
  trainBatches?: (
    views: 1 | 2,
    augment: AugmentOptions,
  ) => AsyncIterable<{ x: Float32Array; labels: Int32Array; count: number }>;
  batch: number;
  onEvent?: EventSink;
  signal?: AbortSignal;
}

/** Per-run state a method keeps (e.g. GPS indices), saved with the run so export and resume can rebuild the program. */
export type MethodState = Record<string, unknown>;

export interface PreparedMethod {
  program: MethodProgram;
  /** update rule for every tensor unless a TrainableSpec overrides it (SPD) */
  update?: UpdateRule;
  state: MethodState;
  /**
   * Builds the deployable model: the prepared backbone (original architecture + head) with the
   * trained tensors merged in, no adapter ops left.
   */
  merge(backbone: Model, trained: Map<string, Tensor>): Model;
  /** short facts for the model card and the UI */
  describe(): Record<string, OptionValue>;
  /** extra export files (GPS: the sparse patch); returns their paths */
  writeExtras?(outDir: string, backbone: Model, trained: Map<string, Tensor>): Promise<string[]>;
  /** called after every train step with the step's (first-copy) logits [B, C] (PACE-fast keeps them per sample) */
  afterStep?(at: StepResult): void;
  /** per-epoch diagnostics on held-out images (PACE: FP-distance); merged into the epoch event's diagnostics */
  epochDiagnostics?(params: Map<string, Tensor>, heldOut: AsyncIterable<HeldOutBatch>): Promise<Record<string, number>>;
}

export interface StepResult {
  epoch: number;
  step: number;
  batchFiles: string[];
  count: number;
  logits: Float32Array;
}

export interface HeldOutBatch {
  x: Float32Array;
  count: number;
  files: string[];
}

/**
 * What a method card may say beyond the measured trainable share and cost. No sentence claims an accuracy
 * without saying where it was measured: results on the user's own data come from comparisons run there.
 */
export interface MethodCardFacts {
  /** the paper's result, stated as the paper's (METHODS.md, paper anchors) */
  paper?: string;
  /** when the method needs a long schedule to pay off, and how long the paper trained */
  schedule?: string;
}

export interface Method {
  name: string;
  title: string;
  /** one sentence for the method card: what the method does (mechanism, not a promise of accuracy) */
  summary: string;
  options: OptionSpec[];
  defaults: MethodDefaults;
  card: MethodCardFacts;
  /**
   * training cost per image and epoch in forward-pass equivalents (full fine-tuning's forward + backward = 3), from
   * `npm run bench:train`'s step time relative to full fine-tuning; the card multiplies it by the forward speed
   * measured on the user's machine
   */
  relativeCost: number;
  /** the largest batch to propose on a machine without an accelerator, where the default would not fit */
  cpuBatch?: number;
  /** files an export writes besides model.onnx, labels.txt and the model card */
  exports?: { file: string; description: string }[];
  /** the update rule the method implies (spd: full fine-tuning trained with SPD) */
  optimizer?: 'spd';
  /** true when the method trains only the head on cached features (no backbone passes per epoch) */
  cachedFeatures?: boolean;
  /**
   * How many parameters train, counted on the prepared graph (backbone + new head) before any selection
   * runs: shown on the method card as a share of all parameters.
   */
  trainableParameters(g: Graph, options: MethodOptions): number;
  prepare(ctx: MethodContext, state?: MethodState): Promise<PreparedMethod>;
}

/** Elements of the named initializers. */
export function sizeOfTensors(g: Graph, names: Iterable<string>): number {
  let n = 0;
  for (const k of names) n += g.initializers.get(k)?.data.length ?? 0;
  return n;
}

/** The new head: C·dim weights and C biases. */
export const headParameters = (g: Graph): number => sizeOfTensors(g, [HEAD_WEIGHT, HEAD_BIAS]);

/** Substitutes trained tensors for same-named initializers: all a method needs when it trains tensors in place. */
export function mergeByName(backbone: Model, trained: Map<string, Tensor>): Model {
  const graph = { ...backbone.graph, initializers: new Map(backbone.graph.initializers) };
  for (const [k, t] of trained) {
    const old = graph.initializers.get(k);
    if (!old) continue;
    if (old.dims.join() !== t.dims.join())
      throw new Error(`merge: ${k} has shape [${t.dims}] but the backbone has [${old.dims}]`);
    graph.initializers.set(k, t);
  }
  return { ...backbone, graph };
}

/** The option `name` of a method: the given value, else its declared default (declared once, in `options`). */
export function optionValue(options: readonly OptionSpec[], given: MethodOptions, name: string): OptionValue {
  const spec = options.find((o) => o.name === name);
  if (!spec) throw new Error(`method option "${name}" is not declared`);
  return given[name] ?? spec.default;
}

export const numberOption = (options: readonly OptionSpec[], given: MethodOptions, name: string): number =>
  Number(optionValue(options, given, name));
export const booleanOption = (options: readonly OptionSpec[], given: MethodOptions, name: string): boolean => {
  const v = optionValue(options, given, name);
  return v === true || v === 'true';
};
