/**
 * PACE's multiplicative noise (METHODS.md §PACE; Vision/pace/pace_ops.py, shape 'BC'): z ~ N(1, σ_l²) per sample
 * and channel, shared across tokens, fed from the host per step; σ_l per block as Vision/train.py sets it.
 */
import type { ShapeMap } from '../../ir/fold';
import { producers, type Graph } from '../../ir/graph';
import type { Tensor } from '../../ir/tensor';
import { deriveSeed, mulberry32, normal } from '../../util/random';
import type { LinearLayer } from '../layers';

/**
 * σ per block (Vision/train.py): blocks are numbered 0..L−1 and the official code's last noisy layer is the head
 * (block L): sigmas = [0, linspace(0, σ, L+1)[-1:0:-1]] gives σ_0 = 0, σ_1 = σ, falling by σ/L per block to σ/L
 * at the head. Attune puts no adapter on the new head, so the blocks get σ_l = σ·(L + 1 − l)/L for l ≥ 1.
 */
export function paceSigmas(blocks: number, sigma: number): number[] {
  return Array.from({ length: blocks }, (_, l) => (l === 0 ? 0 : (sigma * (blocks + 1 - l)) / blocks));
}

export interface NoiseSpec {
  /** the ExtraInput name */
  name: string;
  layer: number;
  sigma: number;
  /** the noise tensor's shape: 1 everywhere but the batch axis and the last (out) axis */
  shape: number[];
  rows: number;
  out: number;
}

/** Fills z ~ N(1, σ²) for one step: the data is [rows][out] whatever the layout, since other axes are 1. */
export function noiseTensor(n: NoiseSpec, at: { seed: number; epoch: number; step: number }): Tensor {
  const rng = mulberry32(deriveSeed(at.seed, 0x9ace, at.epoch, at.step, n.layer));
  const data = new Float32Array(n.rows * n.out);
  for (let i = 0; i < data.length; i++) data[i] = 1 + n.sigma * normal(rng);
  return { dtype: 'float32', dims: [...n.shape], data };
}

/** Where the batch sits in a layer's output, so a [rows, out] noise draw broadcasts per sample and channel. */
export function noiseLayout(
  g: Graph,
  shapes: ShapeMap,
  l: LinearLayer,
  rows: number,
): { shape: number[]; view?: number[] } {
  const ys = shapes.get(l.output)?.dims;
  if (!ys) throw new Error(`PACE: no shape for ${l.output}`);
  const out = ys[ys.length - 1];
  const axis = ys.slice(0, -1).findIndex((d) => d === rows);
  if (axis >= 0) return { shape: ys.map((_, i) => (i === axis ? rows : i === ys.length - 1 ? out : 1)) };
  // tokens and batch flattened into one axis (torchvision's attention output Gemm reads [T, B·heads, d] reshaped
  // to [T·B, D]): the leading axis of the reshaped tensor says whether rows are token-major or sample-major
  const src = producers(g).get(l.node.inputs[0]);
  const s = src && (src.op === 'Reshape' || src.op === 'Flatten') ? shapes.get(src.inputs[0])?.dims : undefined;
  if (ys.length === 2 && s && ys[0] % rows === 0) {
    const per = ys[0] / rows;
    if (s[0] === per) return { shape: [1, rows, out], view: [per, rows, out] };
    if (s[0] === rows) return { shape: [rows, 1, out], view: [rows, per, out] };
  }
  throw new Error(`PACE cannot tell where the batch is in ${l.output} [${ys}]`);
}
