/**
 * Float64 copies of float32 graphs and static shapes of float64 graphs, for gradient checks.
 * Finite differences need float64; onnxruntime lacks some float64 kernels, so shapes are probed
 * on a float32 twin of the graph (same topology, same shapes).
 */
import { probe, type ShapeMap } from '../../ir/fold';
import { cloneModel, type Graph, type Model } from '../../ir/graph';
import { castFloat, tensor, type DType, type Tensor } from '../../ir/tensor';
import { dtypeCode } from '../../onnx/io';

type FloatKind = 'float32' | 'float64';

function recastTensor(t: Tensor, from: FloatKind, to: FloatKind): Tensor {
  return t.dtype === from ? castFloat(t, to) : t;
}

/** Rewrites every `from` float (initializers, inputs, outputs, Cast targets, constant attributes) to `to`. */
export function recastGraph(g: Graph, from: FloatKind, to: FloatKind): void {
  for (const [k, t] of g.initializers) g.initializers.set(k, recastTensor(t, from, to));
  for (const v of [...g.inputs, ...g.outputs]) if (v.dtype === from) v.dtype = to;
  for (const n of g.nodes) {
    const toAttr = n.attrs.to;
    if (n.op === 'Cast' && toAttr?.kind === 'int' && toAttr.value === dtypeCode(from))
      n.attrs.to = { kind: 'int', value: dtypeCode(to) };
    for (const [k, a] of Object.entries(n.attrs)) {
      if (a.kind === 'tensor') n.attrs[k] = { kind: 'tensor', value: recastTensor(a.value, from, to) };
      if (a.kind === 'graph') recastGraph(a.value, from, to);
    }
  }
}

/** A float64 copy of a float32 model. */
export function toFloat64Model(m: Model): Model {
  const c = cloneModel(m);
  recastGraph(c.graph, 'float32', 'float64');
  return c;
}

/** Every tensor's dtype and static shape in an all-float64 graph (initializers and inputs included). */
export async function inferShapes64(m: Model): Promise<ShapeMap> {
  const twin = cloneModel(m);
  recastGraph(twin.graph, 'float64', 'float32');
  const feeds: Record<string, Tensor> = {};
  for (const i of twin.graph.inputs) feeds[i.name] = tensor(i.dtype, i.shape as number[]);
  const { shapes } = await probe(twin.graph, m.opset, feeds, () => false);
  const widen = (d: DType): DType => (d === 'float32' ? 'float64' : d);
  for (const s of shapes.values()) s.dtype = widen(s.dtype);
  for (const [k, t] of m.graph.initializers) shapes.set(k, { dtype: t.dtype, dims: t.dims });
  for (const i of m.graph.inputs) shapes.set(i.name, { dtype: i.dtype, dims: i.shape as number[] });
  return shapes;
}
