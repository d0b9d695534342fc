/**
 * Where the parameters of a backbone are, found from the graph's structure (not from one exporter's
 * naming): linear layers (MatMul / Gemm with a constant weight), convolution kernels, biases, and which
 * transformer block each linear layer belongs to. Shared by LoRA, PACE, GPS and BitFit.
 */
import { HEAD_BIAS, HEAD_WEIGHT } from '../backbone/prepare';
import { attrFloat, attrInt, consumers, producers, type Graph, type Node } from '../ir/graph';
import { isFloat, type Tensor } from '../ir/tensor';

export interface LinearLayer {
  node: Node;
  /** the weight initializer */
  weight: string;
  /**
   * storage layout of the weight: 'in-out' for MatMul(x, W) and Gemm without transB (W is [in, out]),
   * 'out-in' for Gemm with transB = 1 (W is [out, in], torch's nn.Linear layout)
   */
  layout: 'in-out' | 'out-in';
  inFeatures: number;
  outFeatures: number;
  /** the bias initializer [out] (Gemm's C, or the Add right after a MatMul), if any */
  bias?: string;
  /** the layer's full output: after the bias */
  output: string;
  /** transformer block index, or -1 outside blocks (patch embedding, head) */
  block: number;
}

const isHead = (name: string) => name === HEAD_WEIGHT || name === HEAD_BIAS;

/**
 * Block index of a node from the exporter's scope names: torchvision `/encoder/layers/encoder_layer_3/…`,
 * timm `/blocks/blocks.3/…`, Hugging Face `/vit/encoder/layer.3/…`, GPT-style `/h.3/…`.
 */
function blockOfName(name: string): number | undefined {
  const m = name.match(/(?:^|[/._])(?:encoder_layer|blocks?|layers?|layer|h)[._]?(\d+)(?=[/._]|$)/);
  return m ? Number(m[1]) : undefined;
}

/** Every MatMul / Gemm whose second operand is a constant 2-D weight, in graph order (the head excluded). */
function linearLayers(g: Graph): LinearLayer[] {
  const cons = consumers(g);
  const out: LinearLayer[] = [];
  // fallback block numbering when scope names are missing: two LayerNorms per pre-norm block
  let norms = 0;
  const named = g.nodes.some((n) => blockOfName(n.name) !== undefined);
  for (const n of g.nodes) {
    if (n.op === 'LayerNormalization') norms++;
    if (n.op !== 'MatMul' && n.op !== 'Gemm') continue;
    const w = n.inputs[1];
    const t = g.initializers.get(w);
    if (!t || t.dims.length !== 2 || !isFloat(t.dtype) || isHead(w)) continue;
    if (
      n.op === 'Gemm' &&
      (attrInt(n, 'transA', 0) !== 0 || attrFloat(n, 'alpha', 1) !== 1 || attrFloat(n, 'beta', 1) !== 1)
    )
      continue;
    const layout = n.op === 'Gemm' && attrInt(n, 'transB', 0) === 1 ? 'out-in' : 'in-out';
    const [inFeatures, outFeatures] = layout === 'in-out' ? t.dims : [t.dims[1], t.dims[0]];
    let bias: string | undefined;
    let output = n.outputs[0];
    if (n.op === 'Gemm' && n.inputs[2] && g.initializers.get(n.inputs[2])?.dims.join() === String(outFeatures))
      bias = n.inputs[2];
    if (n.op === 'MatMul') {
      const next = cons.get(output) ?? [];
      if (next.length === 1 && next[0].op === 'Add') {
        const other = next[0].inputs.find((i) => i !== output);
        const bt = other ? g.initializers.get(other) : undefined;
        if (other && bt && bt.dims.length === 1 && bt.dims[0] === outFeatures) {
          bias = other;
          output = next[0].outputs[0];
        }
      }
    }
    const block = named ? (blockOfName(n.name) ?? -1) : norms > 0 ? Math.floor((norms - 1) / 2) : -1;
    out.push({ node: n, weight: w, layout, inFeatures, outFeatures, bias, output, block });
  }
  return out;
}

/** Linear layers inside transformer blocks (qkv, attention output, fc1, fc2): where LoRA and PACE go. */
export function blockLinears(g: Graph): LinearLayer[] {
  return linearLayers(g).filter((l) => l.block >= 0);
}

export interface WeightMatrix {
  name: string;
  /** the initializer's shape */
  shape: number[];
  /** neurons (output rows) and entries per neuron: a Conv weight is viewed as [out, in·kh·kw] */
  rows: number;
  cols: number;
  /** 'in-out': neuron r is column r of an [in, out] matrix; 'out-in': neuron r is the r-th slab */
  layout: 'in-out' | 'out-in';
  block: number;
}

/**
 * METHODS.md notation: every Linear/Gemm/MatMul weight and every Conv weight (the patch embedding
 * included), the new head excluded. Element (r, c) of the [rows, cols] view lives at flat offset
 * r·cols + c ('out-in') or c·rows + r ('in-out').
 */
export function weightMatrices(g: Graph): WeightMatrix[] {
  const out: WeightMatrix[] = [];
  const seen = new Set<string>();
  const linears = new Map(linearLayers(g).map((l) => [l.node, l]));
  for (const n of g.nodes) {
    const l = linears.get(n);
    if (l && !seen.has(l.weight)) {
      seen.add(l.weight);
      const shape = g.initializers.get(l.weight)!.dims;
      out.push({ name: l.weight, shape, rows: l.outFeatures, cols: l.inFeatures, layout: l.layout, block: l.block });
    }
    if (n.op === 'Conv' && g.initializers.has(n.inputs[1]) && !seen.has(n.inputs[1])) {
      const w = n.inputs[1];
      seen.add(w);
      const shape = g.initializers.get(w)!.dims;
      const rows = shape[0];
      out.push({
        name: w,
        shape,
        rows,
        cols: shape.slice(1).reduce((a, b) => a * b, 1),
        layout: 'out-in',
        block: blockOfName(n.name) ?? -1,
      });
    }
  }
  return out;
}

/** Flat offset of entry (r, c) of a weight matrix's [rows, cols] view. */
export function flatIndex(w: Pick<WeightMatrix, 'rows' | 'cols' | 'layout'>, r: number, c: number): number {
  return w.layout === 'out-in' ? r * w.cols + c : c * w.rows + r;
}

/**
 * Bias vectors: Conv and Gemm bias inputs and the constant vector added right after a MatMul. Norm parameters are
 * not biases (LayerNorm's and BatchNorm's are excluded), except the shift of a BatchNormalization that follows a
 * Conv without a bias: that shift is the Conv's bias (folding the BatchNorm into the Conv, as many exporters do,
 * makes it one), and without it BitFit would train no bias at all in a network such as MobileNetV2.
 */
export function biasTensors(g: Graph): string[] {
  const prod = producers(g);
  const out = new Set<string>();
  const vec = (name: string | undefined) =>
    !!name && g.initializers.get(name)?.dims.length === 1 && isFloat(g.initializers.get(name)!.dtype) && !isHead(name);
  for (const n of g.nodes) {
    if ((n.op === 'Conv' || n.op === 'Gemm') && vec(n.inputs[2])) out.add(n.inputs[2]);
    if (n.op === 'BatchNormalization' && vec(n.inputs[2])) {
      const conv = prod.get(n.inputs[0]);
      if (conv?.op === 'Conv' && !conv.inputs[2]) out.add(n.inputs[2]);
    }
    if (n.op === 'Add') {
      const [a, b] = n.inputs;
      const pa = prod.get(a)?.op;
      const pb = prod.get(b)?.op;
      if (vec(a) && (pb === 'MatMul' || pb === 'Conv')) out.add(a);
      if (vec(b) && (pa === 'MatMul' || pa === 'Conv')) out.add(b);
    }
  }
  return [...out];
}

export { parameterCount } from '../ir/parameters';

/**
 * Sets the value a node reads at `input` in a merged model. Exporters tie identical tensors (torch's
 * zero-initialised attention biases end up as one initializer read by several layers): when others read
 * it too, the node gets its own copy under a new name instead of changing every reader.
 */
export function setOwnedInput(m: { graph: Graph }, nodeName: string, input: string, t: Tensor): void {
  const g = m.graph;
  const readers = g.nodes.filter((n) => n.inputs.includes(input));
  if (readers.length <= 1) {
    g.initializers.set(input, t);
    return;
  }
  let name = `${input}::${nodeName}`;
  while (g.initializers.has(name)) name += '_';
  g.initializers.set(name, t);
  g.nodes = g.nodes.map((n) =>
    n.name === nodeName ? { ...n, inputs: n.inputs.map((i) => (i === input ? name : i)) } : n,
  );
}
