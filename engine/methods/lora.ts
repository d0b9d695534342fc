/**
 * LoRA, additive (METHODS.md, baselines; Hu et al. 2022): for every attention (qkv, output projection)
 * and MLP (fc1, fc2) weight of every block, W' = W + (α/r)·A·B with A [in, r] random normal and
 * B [r, out] zeros, so W' = W at step 0 (trained as y = x·W', one product; ∂A and ∂B are rank-r products,
 * autodiff/low-rank.ts). Only A, B and the head train; export merges A·B into W on the host.
 * A's init: METHODS.md says "random normal"; we use std 1/r, Hugging Face PEFT's `init_lora_weights="gaussian"`.
 */
import { HEAD_BIAS, HEAD_WEIGHT } from '../backbone/prepare';
import type { Builder } from '../ir/builder';
import type { Graph, Model } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import { deriveSeed, mulberry32, normal } from '../util/random';
import { blockLinears, setOwnedInput, type LinearLayer } from './layers';
import { headParameters, mergeByName, numberOption, type Method } from './method';

export const loraA = (w: string) => `${w}::lora_A`;
const loraB = (w: string) => `${w}::lora_B`;

/** A·B as an [in, out] host matrix times `scale`, in float64 then rounded once. */
function product(a: Tensor, bm: Tensor, scale: number): Float64Array {
  const [inF, r] = a.dims;
  const out = bm.dims[1];
  const p = new Float64Array(inF * out);
  const A = a.data as Float32Array;
  const B = bm.data as Float32Array;
  for (let i = 0; i < inF; i++)
    for (let k = 0; k < r; k++) {
      const aik = A[i * r + k] * scale;
      if (aik === 0) continue;
      for (let j = 0; j < out; j++) p[i * out + j] += aik * B[k * out + j];
    }
  return p;
}

/** W' = W + scale·A·B on the host, in W's storage layout. */
function mergeLora(w: Tensor, layout: LinearLayer['layout'], a: Tensor, bm: Tensor, scale: number): Tensor {
  const p = product(a, bm, scale);
  const [inF, out] = [a.dims[0], bm.dims[1]];
  const W = w.data as Float32Array;
  const merged = new Float32Array(W.length);
  for (let i = 0; i < inF; i++)
    for (let j = 0; j < out; j++) {
      const at = layout === 'in-out' ? i * out + j : j * inF + i;
      merged[at] = W[at] + p[i * out + j];
    }
  return { dtype: 'float32', dims: [...w.dims], data: merged };
}

export const lora: Method = {
  name: 'lora',
  title: 'LoRA (low-rank adapters)',
  summary:
    'Learns a small low-rank update for every attention and MLP weight; merged into the weights on export, so the model runs as fast as the original.',
  card: {
    paper:
      'From the papers (ViT-B/16, METHODS.md anchors): VTAB-1k mean 74.5 % against 68.9 % for full fine-tuning, FGVC 89.5 % against 85.9 %.',
  },
  // bench:train: 0.72–0.84× full fine-tuning's step with the merged product (paired median 0.76; train.md)
  relativeCost: 2.4,
  options: [
    { name: 'rank', flag: '--rank', description: 'rank r of the update A·B', default: 8, kind: 'integer', min: 1 },
    {
      name: 'alpha',
      flag: '--lora-alpha',
      description: 'scale α (the update is multiplied by α/r); default: α = r',
      default: 0,
      kind: 'number',
      min: 0,
    },
  ],
  // A [in, r] and B [r, out] per adapted layer, plus the head
  trainableParameters: (g, o) =>
    blockLinears(g).reduce((n, l) => n + numberOption(lora.options, o, 'rank') * (l.inFeatures + l.outFeatures), 0) +
    headParameters(g),
  // as the LoRA baseline of the PACE code (Vision/train.py --adapter LoRAadd): AdamW lr 1e-3, wd 1e-4, no clipping
  defaults: { lr: 1e-3, weightDecay: 1e-4, epochs: 10, batch: 32, warmupEpochs: 1, labelSmoothing: 0, clipNorm: null },
  async prepare(ctx) {
    const r = numberOption(lora.options, ctx.options, 'rank');
    const alpha = numberOption(lora.options, ctx.options, 'alpha') || r; // METHODS.md: α = r by default (declared as 0)
    const scale = alpha / r;
    const wd = Number(ctx.options.weightDecay ?? lora.defaults.weightDecay);
    const layers = blockLinears(ctx.backbone.model.graph);
    if (!layers.length) throw new Error('LoRA found no linear layers inside transformer blocks in this backbone');
    const layouts = new Map(layers.map((l) => [l.weight, l.layout]));
    const readers = new Map(layers.map((l) => [l.weight, l.node.name]));
    const init = new Map<string, Tensor>();
    layers.forEach((l, i) => {
      const rng = mulberry32(deriveSeed(ctx.seed, 0x10a4, i));
      init.set(
        loraA(l.weight),
        tensor(
          'float32',
          [l.inFeatures, r],
          Array.from({ length: l.inFeatures * r }, () => normal(rng) / r),
        ),
      );
      init.set(loraB(l.weight), tensor('float32', [r, l.outFeatures]));
    });
    // one product per layer with the merged weight W + scale·A·B (in W's storage layout); the autodiff takes ∂A
    // and ∂B as rank-r products of x and ∂y (autodiff/low-rank.ts), never the dense ∂L/∂W'
    const transform = (g: Graph, b: Builder) => {
      for (const l of blockLinears(g)) {
        if (!layouts.has(l.weight)) continue;
        const [a, bb] = [loraA(l.weight), loraB(l.weight)];
        g.initializers.set(a, init.get(a)!);
        g.initializers.set(bb, init.get(bb)!);
        let delta = b.matmul(a, bb); // [in, out]
        if (scale !== 1) delta = b.mul(delta, b.scalar(scale));
        if (l.layout === 'out-in') delta = b.transpose(delta, [1, 0]);
        l.node.inputs[1] = b.add(l.weight, delta);
      }
    };
    return {
      program: {
        transform,
        trainable: () => [
          // adapter tensors: SPD anchors them at 0 (official README: PEFT parameters have no stored anchor)
          ...[...init.keys()].map((name) => ({ name, weightDecay: wd, anchorAtZero: true })),
          { name: HEAD_WEIGHT, weightDecay: wd },
          { name: HEAD_BIAS, weightDecay: 0 },
        ],
      },
      state: { rank: r, alpha, layers: layers.length },
      merge(backbone: Model, trained: Map<string, Tensor>): Model {
        const merged = mergeByName(backbone, trained);
        for (const [w, layout] of layouts) {
          const a = trained.get(loraA(w)) ?? init.get(loraA(w))!;
          const bm = trained.get(loraB(w)) ?? init.get(loraB(w))!;
          setOwnedInput(
            merged,
            readers.get(w)!,
            w,
            mergeLora(backbone.graph.initializers.get(w)!, layout, a, bm, scale),
          );
        }
        return merged;
      },
      describe: () => ({ trains: 'low-rank adapters and head', rank: r, alpha, adaptedLayers: layers.length }),
    };
  },
};
