/**
 * Compiles a prepared backbone (+ head) into the programs the trainer runs:
 *  - train step: forward, loss, backward, clipping and optimizer update, in one ONNX graph;
 *  - eval: forward and softmax.
 * Frozen tensors stay initializers (uploaded to the device once); trainable tensors and optimizer
 * state are graph inputs and outputs. Methods plug in through `MethodProgram` (graph transform,
 * extra loss terms, update rule per tensor) without the compiler knowing which method it is.
 */
import { differentiate } from '../autodiff/differentiate';
import { HEAD_BIAS, HEAD_WEIGHT, LOGITS } from '../backbone/prepare';
import { Builder } from '../ir/builder';
import { foldConstants, type ShapeMap } from '../ir/fold';
import { shapesAfterEdit } from '../ir/shape-rules';
import { stepMemory, type StepMemory } from './memory';
import { downstreamOf, int, pruneDead, topoSort, type Graph, type Model, type Node, type ValueInfo } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import { crossEntropy } from './loss';
import { ADAM_DEFAULTS, adamW, clipByGlobalNorm, type AdamHyper, type StepScalars, type UpdateRule } from './optimizer';

export interface TrainableSpec {
  name: string;
  /** decoupled weight decay for AdamW */
  weightDecay: number;
  /** update rule for this tensor (default: the program's) */
  update?: UpdateRule;
  /**
   * an adapter tensor (LoRA A/B, PACE's, GPS's δ): SPD anchors it at 0, as the official code does for PEFT
   * parameters, whatever its initial value; backbone tensors are anchored at their pretrained value
   */
  anchorAtZero?: boolean;
}

/** Extra per-step inputs a method feeds (e.g. PACE noise), with a host function that fills them. */
export interface ExtraInput extends ValueInfo {
  /** value for the shape probe (and a neutral default) */
  neutral: () => Tensor;
  /** value for one training step; deterministic in (seed, epoch, step) */
  fill?: (at: { epoch: number; step: number; seed: number; batchFiles: string[]; count: number }) => Tensor;
}

/** What a method contributes to the programs; every field is optional. */
export interface MethodProgram {
  /** rewrites the folded forward graph (adapters, sparse deltas, noise); may add initializers */
  transform?: (g: Graph, b: Builder, shapes: ShapeMap) => void;
  /** rewrites for the eval graph only (e.g. noise off); defaults to `transform` */
  evalTransform?: (g: Graph, b: Builder, shapes: ShapeMap) => void;
  /** tensors that train, after the transform */
  trainable: (g: Graph) => TrainableSpec[];
  /** extra scalar loss terms, given the logits; returns names of scalars to add to the loss */
  extraLoss?: (b: Builder, logits: string, g: Graph) => string[];
  /** extra inputs the train step reads */
  extraInputs?: ExtraInput[];
  /** named scalar outputs to report (e.g. a consistency term) */
  reportScalars?: Record<string, string>;
  /**
   * the train graph is folded at batch × this (default 1): PACE runs the batch concatenated with itself,
   * so its transform sees a [2B, …] forward, feeds a [B, …] image input and slices LOGITS back to [B, C]
   */
  trainBatchMultiplier?: number;
}

export interface TrainProgramOptions {
  batch: number;
  numClasses: number;
  update?: UpdateRule;
  hyper?: AdamHyper;
  /** global gradient-norm clip; null: no clipping (required, so no caller falls back to a hidden default) */
  clipNorm: number | null;
  /** measure the shapes of everything the method changed by running it, instead of deriving them (tests) */
  measureAllShapes?: boolean;
}

export interface StateNames {
  param: string;
  m: string;
  v: string;
  paramOut: string;
  mOut: string;
  vOut: string;
}

export interface TrainProgram {
  model: Model;
  imageInput: string;
  batch: number;
  trainable: TrainableSpec[];
  state: StateNames[];
  /** initial values of trainable tensors (from the transformed graph) */
  initial: Map<string, Tensor>;
  /** scalar outputs besides the state: loss, grad_norm and diagnostics */
  scalars: string[];
  extraInputs: ExtraInput[];
  /** what one step holds, counted from the graph (programs/memory.ts) */
  memory: StepMemory;
}

export const TARGETS = 'attune_targets';
export const INV_WEIGHT = 'attune_inv_weight';
export const LR = 'attune_lr';
export const BC1 = 'attune_bc1';
export const BC2 = 'attune_bc2';
export const LOSS = 'attune_loss';
export const GRAD_NORM = 'attune_grad_norm';
export const PROBS = 'attune_probabilities';

const stateNames = (name: string): StateNames => ({
  param: name,
  m: `${name}::adam_m`,
  v: `${name}::adam_v`,
  paramOut: `${name}::next`,
  mOut: `${name}::adam_m::next`,
  vOut: `${name}::adam_v::next`,
});

/** Moves trainable initializers to graph inputs; returns their initial values. */
function liftTrainables(g: Graph, names: string[]): Map<string, Tensor> {
  const initial = new Map<string, Tensor>();
  for (const n of names) {
    const t = g.initializers.get(n);
    if (!t) throw new Error(`trainable tensor ${n} is not an initializer`);
    initial.set(n, t);
    g.initializers.delete(n);
    g.inputs.push({ name: n, dtype: t.dtype, shape: t.dims });
  }
  return initial;
}

async function foldFor(
  prepared: Model,
  batch: number,
): Promise<{ model: Model; shapes: ShapeMap; imageInput: string }> {
  const inp = prepared.graph.inputs[0];
  const dims = [batch, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const { model, shapes } = await foldConstants(prepared, { [inp.name]: dims });
  return { model, shapes, imageInput: inp.name };
}

/**
 * Moves the nodes that build per-step values from a method's own inputs without the images (PACE's per-sample
 * weights W0 + W' ⊙ z from its noise z) before every node that reads the images, keeping each group's order.
 * onnxruntime's default execution order walks back from the outputs and follows a node's highest-numbered input
 * first, so each such value is then built right before its reader; in the order `topoSort` leaves, the per-sample
 * weights of every noisy layer were built at the start of the step and alive at once before the forward began
 * (ViT-Tiny: 0.56 GB; bench/results/train.md, Notes).
 */
function methodInputsFirst(g: Graph, image: string, methodInputs: string[]): void {
  const fromImage = downstreamOf(g.nodes, [image]);
  const fromMethod = downstreamOf(g.nodes, methodInputs);
  // the nodes that make those values without the images, and what they read (W' from the weights)
  const moved = new Set<Node>();
  const needed = new Set<string>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    const out = n.outputs.some((o) => fromMethod.has(o) || needed.has(o));
    if (!out || n.outputs.some((o) => fromImage.has(o))) continue;
    moved.add(n);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  g.nodes = [...g.nodes.filter((n) => moved.has(n)), ...g.nodes.filter((n) => !moved.has(n))];
}

export async function compileTrainProgram(
  prepared: Model,
  method: MethodProgram,
  opts: TrainProgramOptions,
): Promise<TrainProgram> {
  const {
    model,
    shapes: foldedShapes,
    imageInput,
  } = await foldFor(prepared, opts.batch * (method.trainBatchMultiplier ?? 1));
  const g = model.graph;
  const b = new Builder(g, 'attune', 'float32', model.opset);
  const before = new Map(g.nodes.map((n) => [n, n.inputs.join('|')]));
  method.transform?.(g, b, foldedShapes);
  const trainable = method.trainable(g);
  const initial = liftTrainables(
    g,
    trainable.map((t) => t.name),
  );

  // loss
  const C = opts.numClasses;
  g.inputs.push(
    { name: TARGETS, dtype: 'float32', shape: [opts.batch, C] },
    { name: INV_WEIGHT, dtype: 'float32', shape: [] },
  );
  for (const e of method.extraInputs ?? []) g.inputs.push({ name: e.name, dtype: e.dtype, shape: e.shape });
  const ce = crossEntropy(b, LOGITS, TARGETS, INV_WEIGHT);
  const extra = method.extraLoss?.(b, LOGITS, g) ?? [];
  g.nodes.push({
    name: 'attune_loss_total',
    op: extra.length ? 'Sum' : 'Identity',
    domain: '',
    inputs: [ce, ...extra],
    outputs: [LOSS],
    attrs: {},
  });
  g.outputs = [
    { name: LOSS, dtype: 'float32', shape: [] },
    { name: LOGITS, dtype: 'float32', shape: [opts.batch, C] },
  ];
  topoSort(g);

  const probeFeeds: Record<string, Tensor> = {
    [imageInput]: tensor('float32', g.inputs.find((i) => i.name === imageInput)!.shape as number[]),
    [TARGETS]: tensor('float32', [opts.batch, C]),
    [INV_WEIGHT]: tensor('float32', [], [1]),
  };
  for (const [k, t] of initial) probeFeeds[k] = t;
  for (const e of method.extraInputs ?? []) probeFeeds[e.name] = e.neutral();
  const shapes = await shapesAfterEdit(model, probeFeeds, foldedShapes, before, opts.measureAllShapes);

  const forwardNodes = g.nodes.length;
  const grads = differentiate(
    g,
    shapes,
    LOSS,
    trainable.map((t) => t.name),
    { prefix: 'attune_grad', opset: model.opset },
  );
  const ub = new Builder(g, 'attune_update', 'float32', model.opset);
  const clipped = clipByGlobalNorm(
    ub,
    trainable.map((t) => grads.get(t.name)!),
    opts.clipNorm,
  );
  g.nodes.push({
    name: 'attune_grad_norm',
    op: 'Identity',
    domain: '',
    inputs: [clipped.norm],
    outputs: [GRAD_NORM],
    attrs: {},
  });
  const scalars: StepScalars = { lr: LR, bc1: BC1, bc2: BC2 };
  for (const s of [LR, BC1, BC2]) g.inputs.push({ name: s, dtype: 'float32', shape: [] });
  const state: StateNames[] = [];
  const diagnostics: Record<string, string[]> = {};
  const shares: Record<string, string[]> = {};
  trainable.forEach((t, i) => {
    const names = stateNames(t.name);
    const dims = initial.get(t.name)!.dims;
    g.inputs.push({ name: names.m, dtype: 'float32', shape: dims }, { name: names.v, dtype: 'float32', shape: dims });
    const rule = t.update ?? opts.update ?? adamW;
    const out = rule({
      b: ub,
      param: t.name,
      grad: clipped.grads[i],
      m: names.m,
      v: names.v,
      scalars,
      hyper: opts.hyper ?? ADAM_DEFAULTS,
      weightDecay: t.weightDecay,
      anchor: t.anchorAtZero ? tensor('float32', dims) : initial.get(t.name)!,
      isHead: t.name === HEAD_WEIGHT || t.name === HEAD_BIAS,
    });
    for (const [k, v] of Object.entries(out.diagnostics ?? {})) (diagnostics[k] ??= []).push(v);
    for (const [k, v] of Object.entries(out.shares ?? {})) (shares[k] ??= []).push(v);
    g.nodes.push(
      {
        name: `${names.paramOut}/id`,
        op: 'Identity',
        domain: '',
        inputs: [out.param],
        outputs: [names.paramOut],
        attrs: {},
      },
      { name: `${names.mOut}/id`, op: 'Identity', domain: '', inputs: [out.m], outputs: [names.mOut], attrs: {} },
      { name: `${names.vOut}/id`, op: 'Identity', domain: '', inputs: [out.v], outputs: [names.vOut], attrs: {} },
    );
    g.outputs.push(
      { name: names.paramOut, dtype: 'float32', shape: dims },
      { name: names.mOut, dtype: 'float32', shape: dims },
      { name: names.vOut, dtype: 'float32', shape: dims },
    );
    state.push(names);
  });
  const scalarOutputs = [LOSS, GRAD_NORM];
  g.outputs.push({ name: GRAD_NORM, dtype: 'float32', shape: [] });
  // per-tensor diagnostics become one scalar each: counts are summed (how many tensors SPD governs),
  // shares averaged (the fraction of those tensors where SPD's condition held)
  const aggregate = (all: Record<string, string[]>, op: 'Sum' | 'Mean') => {
    for (const [k, list] of Object.entries(all)) {
      g.nodes.push({
        name: `attune_diag_${k}`,
        op: list.length > 1 ? op : 'Identity',
        domain: '',
        inputs: list,
        outputs: [k],
        attrs: {},
      });
      g.outputs.push({ name: k, dtype: 'float32', shape: [] });
      scalarOutputs.push(k);
    }
  };
  aggregate(diagnostics, 'Sum');
  aggregate(shares, 'Mean');
  for (const [k, v] of Object.entries(method.reportScalars ?? {})) {
    g.nodes.push({ name: `attune_report_${k}`, op: 'Identity', domain: '', inputs: [v], outputs: [k], attrs: {} });
    g.outputs.push({ name: k, dtype: 'float32', shape: [] });
    scalarOutputs.push(k);
  }
  const memory = stepMemory(g, forwardNodes, imageInput, shapes, initial);
  topoSort(g);
  methodInputsFirst(
    g,
    imageInput,
    (method.extraInputs ?? []).map((e) => e.name),
  );
  pruneDead(g);
  return {
    model,
    imageInput,
    batch: opts.batch,
    memory,
    trainable,
    state,
    initial,
    scalars: scalarOutputs,
    extraInputs: method.extraInputs ?? [],
  };
}

export interface EvalProgram {
  model: Model;
  imageInput: string;
  batch: number;
  /** trainable tensors are inputs, so one eval session follows training without rebuilding */
  trainable: string[];
}

/** Forward with the method's eval transform and a softmax; trainable tensors are inputs. */
export async function compileEvalProgram(prepared: Model, method: MethodProgram, batch: number): Promise<EvalProgram> {
  const { model, shapes, imageInput } = await foldFor(prepared, batch);
  const g = model.graph;
  const b = new Builder(g, 'attune', 'float32', model.opset);
  (method.evalTransform ?? method.transform)?.(g, b, shapes);
  const trainable = method.trainable(g).map((t) => t.name);
  liftTrainables(g, trainable);
  g.nodes.push({
    name: 'attune_softmax',
    op: 'Softmax',
    domain: '',
    inputs: [LOGITS],
    outputs: [PROBS],
    attrs: { axis: int(-1) },
  });
  g.outputs = [
    { name: PROBS, dtype: 'float32', shape: [batch, g.outputs[0].shape[1] ?? 0] },
    { name: LOGITS, dtype: 'float32', shape: [batch, g.outputs[0].shape[1] ?? 0] },
  ];
  topoSort(g);
  pruneDead(g);
  return { model, imageInput, batch, trainable };
}
