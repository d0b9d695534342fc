/**
 * Fixes the input shapes, folds everything that does not depend on data or parameters
 * (Constant, Shape→Gather→Unsqueeze→Concat→Reshape chains, ConstantOfShape, …) into initializers,
 * and records every tensor's static shape. onnxruntime itself evaluates the folded parts and
 * reports the shapes (one probe run), so folding covers every op onnxruntime covers.
 */
import * as ort from 'onnxruntime-node';
import { AttuneError } from '../errors';
import type { Graph, Model, Node } from './graph';
import { cloneModel, pruneDead, topoSort } from './graph';
import { allocate, isFloat, sizeOf, tensor, type DType, type Tensor } from './tensor';
import { encodeModel } from '../onnx/io';
import { fromOrt, toOrt } from '../runtime/session';

export interface TensorInfo {
  dtype: DType;
  dims: number[];
}
export type ShapeMap = Map<string, TensorInfo>;

/** Ops whose result is random or stateful: never folded. */
const NON_FOLDABLE = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Dropout', 'Loop', 'If', 'Scan']);
/** Memory one probe run may return at most (approximately); larger probes run in several passes. */
const PROBE_CHUNK_BYTES = 1 << 30;
/** Folded values larger than this stay computed at run time (e.g. a broadcast mask). */
const MAX_FOLDED_ELEMENTS = 1 << 20;

/** Constant nodes become initializers (every value_* form of the op). */
export function constantsToInitializers(g: Graph): void {
  const keep: Node[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'Constant') {
      keep.push(n);
      continue;
    }
    const [key, a] = Object.entries(n.attrs)[0] ?? [];
    let t: Tensor | undefined;
    if (a?.kind === 'tensor') t = a.value;
    else if (key === 'value_float' && a?.kind === 'float') t = tensor('float32', [], [a.value]);
    else if (key === 'value_floats' && a?.kind === 'floats') t = tensor('float32', [a.value.length], a.value);
    else if (key === 'value_int' && a?.kind === 'int') t = tensor('int64', [], [a.value]);
    else if (key === 'value_ints' && a?.kind === 'ints') t = tensor('int64', [a.value.length], a.value);
    if (!t) throw new AttuneError('unsupported-constant', `Constant node "${n.name}" uses a form Attune cannot read (${key}).`, 'Re-export the model with plain tensor constants.');
    g.initializers.set(n.outputs[0], t);
  }
  g.nodes = keep;
}

/**
 * A tensor is static when it depends on nothing that changes between runs or training steps:
 * non-float initializers, scalars, Constant outputs, and input shapes (fixed here).
 * Float initializers of rank ≥ 1 are parameters and are never folded into something else.
 */
function staticNodes(g: Graph, params: Set<string>): Node[] {
  const isStatic = new Set<string>([...g.initializers.keys()].filter((k) => !params.has(k)));
  const out: Node[] = [];
  for (const n of g.nodes) {
    if (NON_FOLDABLE.has(n.op) || n.domain) continue;
    const shapeOnly = n.op === 'Shape' || n.op === 'Size';
    if (shapeOnly || n.inputs.every((i) => !i || isStatic.has(i))) {
      out.push(n);
      for (const o of n.outputs) isStatic.add(o);
    }
  }
  return out;
}

/** Float initializers that are parameters (rank ≥ 1). */
export function parameterNames(g: Graph): Set<string> {
  return new Set([...g.initializers].filter(([, t]) => isFloat(t.dtype) && t.dims.length > 0).map(([k]) => k));
}

/** Runs the graph once with every intermediate as an output; returns dtype, shape and value of each. */
export async function probe(
  g: Graph,
  opset: number,
  feeds: Record<string, Tensor>,
  keepValues: (name: string, dims: readonly number[]) => boolean,
  /** fetch only these tensors (the whole graph still runs); default every node output */
  only?: ReadonlySet<string>,
): Promise<{ shapes: ShapeMap; values: Map<string, Tensor> }> {
  const names = [...new Set(g.nodes.flatMap((n) => n.outputs).filter((o) => o && (!only || only.has(o))))];
  // a graph needs at least one output: fall back to the real ones
  if (names.length === 0) names.push(...g.outputs.map((o) => o.name));
  const probeGraph: Graph = { ...g, outputs: names.map((name) => ({ name, dtype: 'float32' as DType, shape: [] })) };
  const bytes = encodeModelNoTypes({ graph: probeGraph, opset, extraOpsets: [], irVersion: 8, producer: 'attune-probe', metadata: {} });
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  } catch (e) {
    throw unsupported((e as Error).message, g);
  }
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
  const shapes: ShapeMap = new Map();
  const values = new Map<string, Tensor>();
  // Every intermediate of a large batch at once can exceed the machine's memory (PACE at batch 64 rewires
  // the whole ViT: 128 rows of every activation). Fetch them in chunks of about PROBE_CHUNK_BYTES instead:
  // onnxruntime frees whatever a run is not asked to return.
  let chunk = 64;
  for (let start = 0; start < names.length; ) {
    const fetch = names.slice(start, start + chunk);
    start += fetch.length;
    const out = await session.run(ortFeeds, fetch);
    let bytes = 0;
    for (const [k, v] of Object.entries(out)) {
      shapes.set(k, { dtype: v.type as DType, dims: [...v.dims] });
      bytes += (v.data as ArrayLike<unknown> & { byteLength?: number }).byteLength ?? 0;
      if (keepValues(k, v.dims)) values.set(k, fromOrt(v));
    }
    chunk = Math.max(8, Math.floor((PROBE_CHUNK_BYTES * fetch.length) / Math.max(1, bytes)));
  }
  await session.release();
  return { shapes, values };
}

/** Probe outputs carry no type: onnxruntime infers each one's type and shape itself. */
function encodeModelNoTypes(m: Model): Uint8Array {
  return encodeModel(m, undefined, { untypedOutputs: true });
}

export function unsupported(msg: string, g: Graph): AttuneError {
  const m = /Could not find an implementation for (\w+)\((\d+)\) node with name '([^']*)'/.exec(msg);
  if (m) {
    return new AttuneError('unsupported-op', `The model uses ${m[1]} (opset ${m[2]}) in node "${m[3]}", which onnxruntime cannot run here.`, 'Try the linear probe, or re-export the model with a standard opset (13–20).', { op: m[1], node: m[3] });
  }
  const custom = g.nodes.find((n) => n.domain && n.domain !== 'ai.onnx');
  if (custom)
    return new AttuneError('unsupported-op', `The model uses the custom operation ${custom.domain}.${custom.op} (node "${custom.name}").`, 'Export the model without custom or contrib operations (standard ONNX domain only).', { op: custom.op, node: custom.name });
  return new AttuneError('onnx-invalid', `onnxruntime rejected the model: ${msg.split('\n')[0]}`, 'Check that the file is a complete ONNX model; re-export it if needed.');
}

type ProbeResult = { shapes: ShapeMap; values: Map<string, Tensor> };

/** Shapes and folded values at batch B from batch 1 and 2, or undefined if something is not linear in the batch. */
function extrapolate(p1: ProbeResult, p2: ProbeResult, B: number): ProbeResult | undefined {
  const lin = (a: number, b: number) => a + (b - a) * (B - 1);
  const shapes: ShapeMap = new Map();
  for (const [k, s1] of p1.shapes) {
    const s2 = p2.shapes.get(k);
    if (!s2 || s2.dims.length !== s1.dims.length) return undefined;
    shapes.set(k, { dtype: s1.dtype, dims: s1.dims.map((d, i) => lin(d, s2.dims[i])) });
  }
  const values = new Map<string, Tensor>();
  for (const [k, v1] of p1.values) {
    const v2 = p2.values.get(k);
    if (!v2) return undefined;
    const dims = shapes.get(k)!.dims;
    if (sizeOf(dims) > MAX_FOLDED_ELEMENTS) continue;
    if (v1.data.length !== v2.data.length) {
      // grew with the batch: only a constant fill (e.g. ConstantOfShape) can be extrapolated
      const first = v1.data[0];
      if (![v1.data, v2.data].every((d) => (d as ArrayLike<number | bigint>).length > 0 && Array.prototype.every.call(d, (x: number | bigint) => x === first))) return undefined;
      const data = allocate(v1.dtype, sizeOf(dims));
      (data as unknown as { fill(x: number | bigint): void }).fill(first);
      values.set(k, { dtype: v1.dtype, dims, data });
      continue;
    }
    if (v1.dtype === 'int64' || v1.dtype === 'int32') {
      const a = v1.data as BigInt64Array | Int32Array;
      const b = v2.data as BigInt64Array | Int32Array;
      const data = allocate(v1.dtype, a.length) as BigInt64Array | Int32Array;
      for (let i = 0; i < a.length; i++) data[i] = (typeof a[i] === 'bigint' ? BigInt(lin(Number(a[i]), Number(b[i]))) : lin(Number(a[i]), Number(b[i]))) as never;
      values.set(k, { dtype: v1.dtype, dims, data });
    } else {
      // float or bool statics must not depend on the batch
      for (let i = 0; i < v1.data.length; i++) if (v1.data[i] !== v2.data[i]) return undefined;
      values.set(k, { ...v1, dims });
    }
  }
  return { shapes, values };
}

export interface FoldResult {
  model: Model;
  shapes: ShapeMap;
}

/**
 * Fixes graph inputs to `inputShapes`, folds static subgraphs into initializers, drops dead nodes,
 * and returns every remaining tensor's shape. Parameters (float initializers of rank ≥ 1) are kept as they are.
 */
export async function foldConstants(model: Model, inputShapes: Record<string, number[]>): Promise<FoldResult> {
  const m = cloneModel(model);
  const g = m.graph;
  for (const inp of g.inputs) {
    const dims = inputShapes[inp.name];
    if (!dims) throw new AttuneError('shape-missing', `No shape given for model input "${inp.name}".`, 'This model has more inputs than Attune expects (one image tensor).');
    inp.shape = dims;
  }
  constantsToInitializers(g);
  topoSort(g);
  const params = parameterNames(g);
  const statics = staticNodes(g, params);
  const staticOut = new Set(statics.flatMap((n) => n.outputs));
  const keep = (k: string, dims: readonly number[]) => staticOut.has(k) && sizeOf(dims) <= MAX_FOLDED_ELEMENTS;
  const probeAt = (batch: number | undefined) => {
    const feeds: Record<string, Tensor> = {};
    const inputs = g.inputs.map((inp) => ({ ...inp, shape: batch === undefined ? inp.shape : [batch, ...inp.shape.slice(1)] }));
    for (const inp of inputs) feeds[inp.name] = tensor(inp.dtype, inp.shape as number[]);
    return probe({ ...g, inputs }, m.opset, feeds, keep);
  };
  const batch = (g.inputs[0]?.shape[0] as number) ?? 1;
  const dynamicBatch = typeof model.graph.inputs[0]?.shape[0] !== 'number';
  // Every intermediate at the training batch can take gigabytes; probing at batch 1 and 2 and extrapolating
  // linearly is exact for batch-linear graphs (all exports we know); anything else falls back to batch B.
  const { shapes, values } = (dynamicBatch && batch > 2 && extrapolate(await probeAt(1), await probeAt(2), batch)) || (await probeAt(undefined));
  // Replace static nodes whose values we kept; the rest of the static region stays as nodes.
  const folded = new Set<Node>();
  for (const n of statics) {
    if (n.outputs.every((o) => !o || values.has(o))) {
      for (const o of n.outputs) if (o) g.initializers.set(o, values.get(o)!);
      folded.add(n);
    }
  }
  g.nodes = g.nodes.filter((n) => !folded.has(n));
  pruneDead(g);
  for (const k of g.initializers.keys()) {
    const t = g.initializers.get(k)!;
    shapes.set(k, { dtype: t.dtype, dims: t.dims });
  }
  for (const inp of g.inputs) shapes.set(inp.name, { dtype: inp.dtype, dims: inp.shape as number[] });
  for (const o of g.outputs) {
    const s = shapes.get(o.name);
    if (s) o.shape = s.dims;
  }
  return { model: m, shapes };
}
