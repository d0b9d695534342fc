/**
 * ONNX model files ⇄ Attune IR, through the maintained `onnx-proto` protobuf bindings.
 * Handles raw and typed tensor payloads and external-data files, reading and writing.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, basename, isAbsolute } from 'node:path';
import onnxProto from 'onnx-proto';
import { AttuneError } from '../errors';
import type { Attr, Graph, Model, Node, ValueInfo } from '../ir/graph';
import { allocate, sizeOf, type DType, type Tensor } from '../ir/tensor';
import { writeFileAtomic } from '../util/fs';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type GraphProto = onnxProto.onnx.IGraphProto;
type NodeProto = onnxProto.onnx.INodeProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

const DT = onnx.TensorProto.DataType;
const DTYPE_OF: Record<number, DType> = {
  [DT.FLOAT]: 'float32',
  [DT.DOUBLE]: 'float64',
  [DT.FLOAT16]: 'float16',
  [DT.INT64]: 'int64',
  [DT.INT32]: 'int32',
  [DT.INT8]: 'int8',
  [DT.UINT8]: 'uint8',
  [DT.BOOL]: 'bool',
};
const CODE_OF: Record<DType, number> = {
  float32: DT.FLOAT,
  float64: DT.DOUBLE,
  float16: DT.FLOAT16,
  int64: DT.INT64,
  int32: DT.INT32,
  int8: DT.INT8,
  uint8: DT.UINT8,
  bool: DT.BOOL,
};
export const dtypeCode = (d: DType): number => CODE_OF[d];

const num = (v: number | { toNumber(): number } | null | undefined): number =>
  v == null ? 0 : typeof v === 'number' ? v : v.toNumber();

function dtypeOf(code: number | null | undefined, where: string): DType {
  const d = DTYPE_OF[code ?? 0];
  if (!d)
    throw new AttuneError(
      'onnx-dtype',
      `Tensor ${where} has ONNX data type ${code}, which Attune does not support.`,
      'Export the model with float32 weights (for example torch.onnx.export without quantisation).',
    );
  return d;
}

// ---------- reading ----------

function tensorFromProto(t: TensorProto, baseDir: string): Tensor {
  const dtype = dtypeOf(t.dataType, t.name ?? '');
  const dims = (t.dims ?? []).map(num);
  const n = sizeOf(dims);
  let raw: Uint8Array | undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location') ?? '';
    const file = isAbsolute(location) ? location : join(baseDir, location);
    if (!existsSync(file))
      throw new AttuneError(
        'onnx-external-missing',
        `The model's weights file "${location}" was not found next to the model.`,
        'Keep the .onnx file and its external data file(s) together in one folder.',
        { file },
      );
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : statSync(file).size - offset;
    raw = readRange(file, offset, length);
  } else if (t.rawData && t.rawData.length > 0) raw = t.rawData;
  const data = allocate(dtype, n);
  if (raw) {
    const bytes = new Uint8Array(data.buffer);
    if (raw.length !== bytes.length)
      throw new AttuneError(
        'onnx-corrupt',
        `Tensor ${t.name} has ${raw.length} bytes, expected ${bytes.length}.`,
        'The model file is damaged; export it again.',
      );
    bytes.set(raw);
    return { dtype, dims, data };
  }
  const src: ArrayLike<number | { toNumber(): number }> | null | undefined =
    dtype === 'float32'
      ? t.floatData
      : dtype === 'float64'
        ? t.doubleData
        : dtype === 'int64'
          ? t.int64Data
          : t.int32Data;
  if (src && src.length) {
    if (data instanceof BigInt64Array) for (let i = 0; i < n; i++) data[i] = BigInt(num(src[i]));
    else for (let i = 0; i < n; i++) (data as Float32Array)[i] = num(src[i]);
  }
  return { dtype, dims, data };
}

function readRange(file: string, offset: number, length: number): Uint8Array {
  const buf = readFileSync(file);
  return buf.subarray(offset, offset + length);
}

function attrFromProto(a: AttributeProto, baseDir: string): Attr | undefined {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return { kind: 'int', value: num(a.i) };
    case T.FLOAT:
      return { kind: 'float', value: a.f ?? 0 };
    case T.STRING:
      return { kind: 'string', value: Buffer.from(a.s ?? new Uint8Array()).toString('utf8') };
    case T.INTS:
      return { kind: 'ints', value: (a.ints ?? []).map(num) };
    case T.FLOATS:
      return { kind: 'floats', value: [...(a.floats ?? [])] };
    case T.STRINGS:
      return { kind: 'strings', value: (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8')) };
    case T.TENSOR:
      return { kind: 'tensor', value: tensorFromProto(a.t!, baseDir) };
    case T.GRAPH:
      return { kind: 'graph', value: graphFromProto(a.g!, baseDir) };
    default:
      return undefined;
  }
}

function valueInfoFromProto(v: ValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  const shape = (tt?.shape?.dim ?? []).map((d) =>
    d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : '?',
  );
  return { name: v.name ?? '', dtype: DTYPE_OF[tt?.elemType ?? 1] ?? 'float32', shape };
}

function graphFromProto(g: GraphProto, baseDir: string): Graph {
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensorFromProto(t, baseDir));
  const nodes: Node[] = (g.node ?? []).map((n: NodeProto, i) => {
    const attrs: Record<string, Attr> = {};
    for (const a of n.attribute ?? []) {
      const v = attrFromProto(a, baseDir);
      if (v) attrs[a.name ?? ''] = v;
    }
    return {
      name: n.name || `${n.opType}_${i}`,
      op: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs,
    };
  });
  const inputs = (g.input ?? []).map(valueInfoFromProto).filter((v) => !initializers.has(v.name));
  return { name: g.name ?? 'graph', nodes, initializers, inputs, outputs: (g.output ?? []).map(valueInfoFromProto) };
}

export function decodeModel(bytes: Uint8Array, baseDir = '.'): Model {
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new AttuneError(
      'onnx-unreadable',
      `This file is not a readable ONNX model (${(e as Error).message}).`,
      'Choose a .onnx file exported by PyTorch, timm, Hugging Face Optimum or tf2onnx.',
    );
  }
  if (!m.graph)
    throw new AttuneError(
      'onnx-unreadable',
      'This ONNX file contains no graph.',
      'Choose a complete .onnx model file.',
    );
  const std = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) metadata[p.key ?? ''] = p.value ?? '';
  return {
    graph: graphFromProto(m.graph, baseDir),
    opset: num(std?.version ?? 13),
    extraOpsets: (m.opsetImport ?? [])
      .filter((o) => o.domain && o.domain !== 'ai.onnx')
      .map((o) => ({ domain: o.domain!, version: num(o.version) })),
    irVersion: num(m.irVersion),
    producer: m.producerName ?? '',
    metadata,
  };
}

export function loadModel(path: string): Model {
  if (!existsSync(path))
    throw new AttuneError('onnx-missing', `No model file at ${path}.`, 'Check the path, or choose the model again.');
  return decodeModel(readFileSync(path), dirname(path));
}

// ---------- writing ----------

function tensorToProto(name: string, t: Tensor, external?: ExternalSink): TensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const base: TensorProto = { name, dims: t.dims, dataType: CODE_OF[t.dtype] };
  if (external && bytes.length >= external.threshold) {
    const offset = external.append(bytes);
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ],
    };
  }
  return { ...base, rawData: bytes };
}

function attrToProto(name: string, a: Attr, external?: ExternalSink): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: Buffer.from(a.value, 'utf8') };
    case 'ints':
      return { name, type: T.INTS, ints: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.value };
    case 'strings':
      return { name, type: T.STRINGS, strings: a.value.map((s) => Buffer.from(s, 'utf8')) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorToProto('', a.value) };
    case 'graph':
      return { name, type: T.GRAPH, g: graphToProto(a.value, external) };
  }
}

function valueInfoToProto(v: ValueInfo): ValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: CODE_OF[v.dtype],
        shape: {
          dim: v.shape.map((d) =>
            typeof d === 'number' && d >= 0
              ? { dimValue: d }
              : { dimParam: typeof d === 'string' && d !== '?' ? d : undefined },
          ),
        },
      },
    },
  };
}

function graphToProto(g: Graph, external?: ExternalSink, untypedOutputs = false): GraphProto {
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.op,
      domain: n.domain,
      input: n.inputs,
      output: n.outputs,
      attribute: Object.entries(n.attrs).map(([k, a]) => attrToProto(k, a, external)),
    })),
    initializer: [...g.initializers].map(([k, t]) => tensorToProto(k, t, external)),
    input: g.inputs.map(valueInfoToProto),
    output: untypedOutputs ? g.outputs.map((o) => ({ name: o.name })) : g.outputs.map(valueInfoToProto),
  };
}

interface ExternalSink {
  location: string;
  threshold: number;
  append(bytes: Uint8Array): number;
}

export function encodeModel(m: Model, external?: ExternalSink, opts: { untypedOutputs?: boolean } = {}): Uint8Array {
  const opsetImport = [{ domain: '', version: m.opset }, ...m.extraOpsets];
  return onnx.ModelProto.encode({
    irVersion: Math.max(m.irVersion, 7),
    producerName: m.producer || 'attune',
    opsetImport,
    graph: graphToProto(m.graph, external, opts.untypedOutputs),
    metadataProps: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
  }).finish();
}

export interface SaveOptions {
  /** write tensors of at least `externalThreshold` bytes to `<name>.onnx.data` beside the model */
  externalData?: boolean;
  externalThreshold?: number;
}

/** Writes atomically; the protobuf limit is 2 GiB, so larger models need externalData. */
export async function saveModel(m: Model, path: string, opts: SaveOptions = {}): Promise<void> {
  if (!opts.externalData) {
    await writeFileAtomic(path, encodeModel(m));
    return;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const location = `${basename(path)}.data`;
  const sink: ExternalSink = {
    location,
    threshold: opts.externalThreshold ?? 1024,
    append(bytes) {
      const offset = size;
      chunks.push(bytes);
      size += bytes.length;
      return offset;
    },
  };
  const proto = encodeModel(m, sink);
  await writeFileAtomic(join(dirname(path), location), Buffer.concat(chunks));
  await writeFileAtomic(path, proto);
}
