/**
 * Output shapes of the few ops a method's transform adds (products, element-wise arithmetic, transposes, reshapes,
 * concatenations, reductions) from their inputs' shapes, so compiling a program need not run the whole forward to
 * learn them. Anything else, or anything not certain, is `undefined`: the caller then measures it with onnxruntime.
 */
import { attrInt, type Model, type Node } from './graph';
import { probe, type ShapeMap, type TensorInfo } from './fold';
import type { Tensor } from './tensor';

const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow']);
const UNARY = new Set(['Identity', 'Neg', 'Exp', 'Log', 'Sqrt', 'Tanh', 'Relu', 'Sigmoid', 'Erf', 'Abs', 'Reciprocal']);

/** numpy broadcasting of two shapes; undefined where they do not broadcast */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

function matmulDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  // vectors promote and drop a dimension: rare in what transforms add, left to the probe
  if (a.length < 2 || b.length < 2 || a[a.length - 1] !== b[b.length - 2]) return undefined;
  const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
  return batch && [...batch, a[a.length - 2], b[b.length - 1]];
}

function reshapeDims(input: readonly number[], shape: Tensor | undefined, allowZero: boolean): number[] | undefined {
  if (!shape || (shape.dtype !== 'int64' && shape.dtype !== 'int32')) return undefined;
  const want = Array.from(shape.data as ArrayLike<number | bigint>, Number);
  const size = input.reduce((p, d) => p * d, 1);
  const out = want.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  const free = out.indexOf(-1);
  if (out.some((d, i) => d < 0 && i !== free) || out.lastIndexOf(-1) !== free || out.some((d) => d === undefined))
    return undefined;
  const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (free >= 0) {
    if (known === 0 || size % known !== 0) return undefined;
    out[free] = size / known;
  }
  return out.reduce((p, d) => p * d, 1) === size ? out : undefined;
}

/**
 * The output infos of `n` from its inputs' infos (`info`) and constant inputs (`value`), or undefined when the op is
 * not one of these or a shape is not certain.
 */
export function inferOutputs(
  n: Node,
  info: (name: string) => TensorInfo | undefined,
  value: (name: string) => Tensor | undefined,
): TensorInfo[] | undefined {
  if (n.domain || n.outputs.length !== 1) return undefined;
  const ins = n.inputs.map((i) => (i ? info(i) : undefined));
  if (ins.some((x, k) => n.inputs[k] && !x)) return undefined;
  const [a, b] = ins;
  if (!a) return undefined;
  const of = (dims: number[] | undefined): TensorInfo[] | undefined => dims && [{ dtype: a.dtype, dims }];
  if (UNARY.has(n.op)) return of([...a.dims]);
  if (BINARY.has(n.op))
    return b && (n.op === 'Pow' || a.dtype === b.dtype) ? of(broadcastDims(a.dims, b.dims)) : undefined;
  switch (n.op) {
    case 'MatMul':
      return b && a.dtype === b.dtype ? of(matmulDims(a.dims, b.dims)) : undefined;
    case 'Gemm': {
      if (!b || a.dims.length !== 2 || b.dims.length !== 2) return undefined;
      const [m, k] = attrInt(n, 'transA', 0) ? [a.dims[1], a.dims[0]] : a.dims;
      const [k2, cols] = attrInt(n, 'transB', 0) ? [b.dims[1], b.dims[0]] : b.dims;
      return k === k2 ? of([m, cols]) : undefined;
    }
    case 'Transpose': {
      const perm = n.attrs.perm;
      const p = perm?.kind === 'ints' ? perm.value : [...a.dims.keys()].reverse();
      return p.length === a.dims.length ? of(p.map((i) => a.dims[i])) : undefined;
    }
    case 'Concat': {
      const rank = a.dims.length;
      const axis = attrInt(n, 'axis', 0);
      const ax = axis < 0 ? axis + rank : axis;
      const all = ins as TensorInfo[];
      const fits = all.every(
        (x) => x.dtype === a.dtype && x.dims.length === rank && x.dims.every((d, i) => i === ax || d === a.dims[i]),
      );
      return fits && ax >= 0 && ax < rank
        ? of(a.dims.map((d, i) => (i === ax ? all.reduce((s, x) => s + x.dims[ax], 0) : d)))
        : undefined;
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax': {
      const rank = a.dims.length;
      const given = n.inputs[1] ? value(n.inputs[1]) : undefined;
      if (n.inputs[1] && !given) return undefined;
      const raw = given
        ? Array.from(given.data as ArrayLike<number | bigint>, Number)
        : n.attrs.axes?.kind === 'ints'
          ? n.attrs.axes.value
          : [];
      if (!raw.length && attrInt(n, 'noop_with_empty_axes', 0)) return of([...a.dims]);
      const axes = new Set((raw.length ? raw : [...a.dims.keys()]).map((x) => (x < 0 ? x + rank : x)));
      if ([...axes].some((x) => x < 0 || x >= rank)) return undefined;
      const keep = attrInt(n, 'keepdims', 1) === 1;
      return of(a.dims.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d])));
    }
    case 'Reshape':
      return of(reshapeDims(a.dims, value(n.inputs[1]), attrInt(n, 'allowzero', 0) === 1));
    case 'ScatterND':
      return of([...a.dims]);
    case 'GatherND': {
      // batch_dims 0: the index tuples' leading dims, then what each tuple leaves of the data
      if (!b || attrInt(n, 'batch_dims', 0) !== 0) return undefined;
      const depth = b.dims[b.dims.length - 1];
      return depth <= a.dims.length ? of([...b.dims.slice(0, -1), ...a.dims.slice(depth)]) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Static shapes of a graph after edits (a method's transform, a loss), from the shapes `known` before them and the
 * nodes' inputs `before` (joined by '|'); what cannot be derived is measured in one probe run with `feeds`.
 */
export async function shapesAfterEdit(
  m: Model,
  feeds: Record<string, Tensor>,
  known: ShapeMap,
  before: Map<Node, string>,
  /** measure every new or rewired tensor and what follows (the check of the derivation below) */
  measureAll = false,
): Promise<ShapeMap> {
  // Only what the method and the loss changed: nodes that are new or rewired, and what follows them. A node whose
  // inputs have the shapes its old inputs had keeps its outputs' shapes, and the ops methods add (products,
  // arithmetic, transposes) are shaped here; only the rest is measured by running it (probing the whole forward
  // costs gigabytes, as LoRA's rewiring of every linear layer did).
  const g = m.graph;
  const shapes: ShapeMap = new Map(known);
  for (const [k, t] of g.initializers) shapes.set(k, { dtype: t.dtype, dims: t.dims });
  for (const i of g.inputs) shapes.set(i.name, { dtype: i.dtype, dims: i.shape as number[] });
  const same = (x: TensorInfo | undefined, y: TensorInfo | undefined) =>
    !!x && !!y && x.dtype === y.dtype && x.dims.length === y.dims.length && x.dims.every((d, i) => d === y.dims[i]);
  const changed = new Set<string>();
  const dirty = new Set<string>();
  for (const n of g.nodes) {
    const old = before.get(n)?.split('|');
    const unchangedInputs =
      !!old &&
      old.length === n.inputs.length &&
      n.inputs.every((x, k) =>
        !x
          ? !old[k]
          : x === old[k]
            ? !changed.has(x) && !dirty.has(x)
            : !measureAll && !dirty.has(x) && same(shapes.get(x), known.get(old[k])),
      );
    if (unchangedInputs && n.outputs.every((o) => !o || known.has(o))) continue;
    const inferred =
      measureAll || n.inputs.some((x) => x && dirty.has(x))
        ? undefined
        : inferOutputs(
            n,
            (x) => shapes.get(x),
            (x) => g.initializers.get(x),
          );
    n.outputs.forEach((o, k) => {
      if (!o) return;
      if (!inferred) return dirty.add(o);
      if (!same(inferred[k], known.get(o))) changed.add(o);
      shapes.set(o, inferred[k]);
    });
  }
  if (dirty.size) {
    const probed = await probe(g, m.opset, feeds, () => false, dirty);
    for (const [k, v] of probed.shapes) shapes.set(k, v);
  }
  return shapes;
}
