/**
 * Fixes the input shapes, folds everything that does not depend on data or parameters
 * (Constant, Shape→Gather→Unsqueeze→Concat→Reshape chains, ConstantOfShape, …) into initializers,
 * and records every tensor's static shape. onnxruntime itself evaluates the folded parts and
 * reports the shapes (one probe run), so folding covers every op onnxruntime covers.
 */
import * as ort from 'onnxruntime-node';
import { AttuneError } from '../errors';
import type { Graph, Model, Node } from './graph';
import { cloneModel, outerNames, pruneDead, topoSort } from './graph';
import { allocate, isFloat, sizeOf, tensor, type DType, type Tensor } from './tensor';
import { encodeModel } from '../onnx/io';
import { fromOrt, toOrt } from '../runtime/session';

export interface TensorInfo {
  dtype: DType;
  dims: number[];
}
export type ShapeMap = Map<string, TensorInfo>;

/** Ops whose result is random or stateful: never folded. */
const NON_FOLDABLE = new Set([
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Multinomial',
  'Dropout',
  'Loop',
  'If',
  'Scan',
]);
/** Memory one probe run may return at most (approximately); larger probes run in several passes. */
const PROBE_CHUNK_BYTES = 1 << 30;
/** Folded values larger than this stay computed at run time (e.g. a broadcast mask). */
const MAX_FOLDED_ELEMENTS = 1 << 20;

/** Constant nodes become initializers (every value_* form of the op). */
function constantsToInitializers(g: Graph): void {
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
    if (!t)
      throw new AttuneError(
        'unsupported-constant',
        `Constant node "${n.name}" uses a form Attune cannot read (${key}).`,
        'Re-export the model with plain tensor constants.',
      );
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

/**
 * Runs the graph once and returns dtype, shape (and, where `keepValues` says so, value) of every intermediate.
 * Every intermediate of a large batch at once can exceed the machine's memory (PACE at batch 64 rewires the
 * whole ViT: 128 rows of every activation, about 20 GB), and onnxruntime keeps every declared graph output
 * alive for the whole run. So the graph runs in segments of consecutive nodes, each its own session returning
 * about `chunkBytes`: a segment reads what earlier segments produced, and only the values later segments still
 * need are held between them (for a network, the residual stream), so the graph runs once in bounded memory.
 */
export async function probe(
  g: Graph,
  opset: number,
  feeds: Record<string, Tensor>,
  keepValues: (name: string, dims: readonly number[]) => boolean,
  /** fetch only these tensors; default every node output */
  only?: ReadonlySet<string>,
  chunkBytes = PROBE_CHUNK_BYTES,
): Promise<ProbeResult & { stats: ProbeStats }> {
  const wanted = new Set(g.nodes.flatMap((n) => n.outputs).filter((o) => o && (!only || only.has(o))));
  // a graph needs at least one output: fall back to the real ones
  if (wanted.size === 0) for (const o of g.outputs) wanted.add(o.name);
  const work: Graph = {
    ...g,
    initializers: new Map(g.initializers),
    outputs: [...wanted].map((name) => ({ name, dtype: 'float32' as DType, shape: [] })),
  };
  pruneDead(work);
  const nodes = work.nodes;
  const lastUse = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const x of nodeReads(n)) lastUse.set(x, i);
  });
  const held = new Map<string, ort.Tensor>(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)]));
  const shapes: ShapeMap = new Map();
  const values = new Map<string, Tensor>();
  const stats: ProbeStats = { segments: 0, totalBytes: 0, maxHeldBytes: 0 };
  const heldBytes = () => [...held].reduce((n, [k, v]) => n + (k in feeds ? 0 : byteLength(v)), 0);
  let size = 64;
  for (let start = 0; start < nodes.length;) {
    const end = Math.min(nodes.length, start + size);
    const segment = nodes.slice(start, end);
    const produced = new Set(segment.flatMap((n) => n.outputs).filter(Boolean));
    const fetch = [...produced].filter((o) => wanted.has(o) || (lastUse.get(o) ?? -1) >= end);
    const reads = [...new Set(segment.flatMap(nodeReads))].filter((x) => !produced.has(x) && held.has(x));
    const out = fetch.length ? await runSegment(g, work, opset, segment, reads, held, fetch) : {};
    let bytes = 0;
    for (const [k, v] of Object.entries(out)) {
      bytes += byteLength(v);
      if (wanted.has(k)) {
        shapes.set(k, { dtype: v.type as DType, dims: [...v.dims] });
        if (keepValues(k, v.dims)) values.set(k, fromOrt(v));
      }
      if ((lastUse.get(k) ?? -1) >= end) held.set(k, v);
    }
    for (const [k] of held) if (!(k in feeds) && (lastUse.get(k) ?? -1) < end) held.delete(k);
    stats.segments++;
    stats.totalBytes += bytes;
    stats.maxHeldBytes = Math.max(stats.maxHeldBytes, heldBytes());
    // grow at most twofold: a run of small shape ops says little about the activations that follow
    size = Math.max(8, Math.min(2 * segment.length, Math.floor((chunkBytes * segment.length) / Math.max(1, bytes))));
    start = end;
  }
  return { shapes, values, stats };
}

/** How a probe ran: segments, bytes returned in all, and the most bytes held between two segments. */
export interface ProbeStats {
  segments: number;
  totalBytes: number;
  maxHeldBytes: number;
}

const byteLength = (v: ort.Tensor) => (v.data as ArrayLike<unknown> & { byteLength?: number }).byteLength ?? 0;

/** Tensor names a node reads, its subgraphs' reads from the enclosing scope included. */
function nodeReads(n: Node): string[] {
  const r = n.inputs.filter(Boolean);
  for (const a of Object.values(n.attrs)) if (a.kind === 'graph') r.push(...outerNames(a.value));
  return r;
}

/** One segment as its own session: earlier values (and graph inputs) come in as inputs. */
async function runSegment(
  full: Graph,
  work: Graph,
  opset: number,
  segment: Node[],
  reads: string[],
  held: Map<string, ort.Tensor>,
  fetch: string[],
): Promise<ort.InferenceSession.ReturnType> {
  const used = new Set(segment.flatMap(nodeReads));
  const sub: Graph = {
    name: work.name,
    nodes: segment,
    initializers: new Map([...work.initializers].filter(([k]) => used.has(k))),
    inputs: reads.map((name) => ({ name, dtype: held.get(name)!.type as DType, shape: [...held.get(name)!.dims] })),
    outputs: fetch.map((name) => ({ name, dtype: 'float32' as DType, shape: [] })),
  };
  const bytes = encodeModelNoTypes({
    graph: sub,
    opset,
    extraOpsets: [],
    irVersion: 8,
    producer: 'attune-probe',
    metadata: {},
  });
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  } catch (e) {
    throw unsupported((e as Error).message, full);
  }
  try {
    return await session.run(Object.fromEntries(reads.map((k) => [k, held.get(k)!])), fetch);
  } finally {
    await session.release();
  }
}

/** Probe outputs carry no type: onnxruntime infers each one's type and shape itself. */
function encodeModelNoTypes(m: Model): Uint8Array {
  return encodeModel(m, undefined, { untypedOutputs: true });
}

export function unsupported(msg: string, g: Graph): AttuneError {
  const m = /Could not find an implementation for (\w+)\((\d+)\) node with name '([^']*)'/.exec(msg);
  if (m) {
    return new AttuneError(
      'unsupported-op',
      `The model uses ${m[1]} (opset ${m[2]}) in node "${m[3]}", which onnxruntime cannot run here.`,
      'Try the linear probe, or re-export the model with a standard opset (13–20).',
      { op: m[1], node: m[3] },
    );
  }
  const custom = g.nodes.find((n) => n.domain && n.domain !== 'ai.onnx');
  if (custom)
    return new AttuneError(
      'unsupported-op',
      `The model uses the custom operation ${custom.domain}.${custom.op} (node "${custom.name}").`,
      'Export the model without custom or contrib operations (standard ONNX domain only).',
      { op: custom.op, node: custom.name },
    );
  return new AttuneError(
    'onnx-invalid',
    `onnxruntime rejected the model: ${msg.split('\n')[0]}`,
    'Check that the file is a complete ONNX model; re-export it if needed.',
  );
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
      if (
        ![v1.data, v2.data].every(
          (d) =>
            (d as ArrayLike<number | bigint>).length > 0 &&
            Array.prototype.every.call(d, (x: number | bigint) => x === first),
        )
      )
        return undefined;
      const data = allocate(v1.dtype, sizeOf(dims));
      (data as unknown as { fill(x: number | bigint): void }).fill(first);
      values.set(k, { dtype: v1.dtype, dims, data });
      continue;
    }
    if (v1.dtype === 'int64' || v1.dtype === 'int32') {
      const a = v1.data as BigInt64Array | Int32Array;
      const b = v2.data as BigInt64Array | Int32Array;
      const data = allocate(v1.dtype, a.length) as BigInt64Array | Int32Array;
      for (let i = 0; i < a.length; i++)
        data[i] = (
          typeof a[i] === 'bigint' ? BigInt(lin(Number(a[i]), Number(b[i]))) : lin(Number(a[i]), Number(b[i]))
        ) as never;
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
    if (!dims)
      throw new AttuneError(
        'shape-missing',
        `No shape given for model input "${inp.name}".`,
        'This model has more inputs than Attune expects (one image tensor).',
      );
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
    const inputs = g.inputs.map((inp) => ({
      ...inp,
      shape: batch === undefined ? inp.shape : [batch, ...inp.shape.slice(1)],
    }));
    for (const inp of inputs) feeds[inp.name] = tensor(inp.dtype, inp.shape as number[]);
    return probe({ ...g, inputs }, m.opset, feeds, keep);
  };
  const batch = (g.inputs[0]?.shape[0] as number) ?? 1;
  const dynamicBatch = typeof model.graph.inputs[0]?.shape[0] !== 'number';
  // Every intermediate at the training batch can take gigabytes; probing at batch 1 and 2 and extrapolating
  // linearly is exact for batch-linear graphs (all exports we know); anything else falls back to batch B.
  const { shapes, values } =
    (dynamicBatch && batch > 2 && extrapolate(await probeAt(1), await probeAt(2), batch)) || (await probeAt(undefined));
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
