/**
 * PACE (METHODS.md §PACE; Ni et al., NeurIPS 2024; official code MaxwellYaoNi/PACE, Vision/).
 * Base adapter "LoRAmul + VPTadd" on each Linear of every block (qkv, proj, fc1, fc2; not the head or patch embedding):
 *   Δh(x) = x·(W0 ⊙ (Wd·Wu))ᵀ + W0·p + b0 ⊙ δb,  p = Pd·Pu.
 * Init as Vision/pace/residual_adapters.py (LoRAmul_VPTadd_Linear): Wd [out, r], Pd [in, r], δb [out] zeros;
 * Wu [r, in] and Pu [r, 1] xavier_uniform, so Δh = 0 at step 0.
 * Training: h = h0 + z ⊙ Δh with z ~ N(1, σ_l²) of shape [batch, 1, out] (pace_ops.py, shape 'BC'), fed from the
 * host per step (deterministic in seed, epoch, step). Two passes with independent noise run as one pass over the
 * batch concatenated with itself; L = CE(f1, y) + λ·mean_b ‖f1 − f2‖² (pace_ops.PACE_MSELoss: sum over classes,
 * mean over the batch). PACE-fast (--pace-fast): one noisy pass, consistency against the logits the same sample got
 * in the previous epoch (pace_ops.compute_loss_pace_fast; skipped in the first epoch, as METHODS.md says).
 * Export: noise off, merged exactly: W = W0 ⊙ (1 + Wd·Wu), b = b0 ⊙ (1 + δb) + W0·p.
 * Linear layers without a bias get only the LoRAmul part (a VPT shift would need an extra Add on export).
 */
import { HEAD_BIAS, HEAD_WEIGHT } from '../../backbone/prepare';
import type { Builder } from '../../ir/builder';
import type { ShapeMap } from '../../ir/fold';
import { replaceUses, topoSort, type Graph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import type { ExtraInput } from '../../programs/compile';
import { blockLinears, type LinearLayer } from '../layers';
import { booleanOption, headParameters, numberOption, type HeldOutBatch, type Method } from '../method';
import { adapterOutput, initAdapters, mergeAdapters, mergeIntoLayer, paceNames, perSampleLayer } from './adapter';
import {
  consistencyLoss,
  doubleBatch,
  firstCopyLogits,
  LogitHistory,
  PACE_CONSISTENCY,
  PACE_TERM,
} from './consistency';
import { insertDropPath, PACE_DROP_PATH_RATE } from './drop-path';
import { fpDistance } from './fp-distance';
import { noiseLayout, noiseTensor, paceSigmas, type NoiseSpec } from './noise';

export { mergePace, paceNames } from './adapter';
export { noiseTensor, paceSigmas } from './noise';
export { PACE_CONSISTENCY, PACE_TERM } from './consistency';

export const pace: Method = {
  name: 'pace',
  title: 'PACE (adapters + consistency regularisation)',
  summary:
    'Adds small multiplicative adapters to every attention and MLP layer and trains them on two noisy copies of each batch with a consistency penalty; merged into the weights on export.',
  card: {
    paper:
      'From its paper (ViT-B/16, METHODS.md anchors): VTAB-1k mean 79.0 % against 76.4 % for its base adapter and 68.9 % for full fine-tuning.',
    schedule:
      'Its paper trains 300 epochs with 10 of warm-up (Vision/train.py); its results were measured at that length, not at the few epochs a CPU allows.',
  },
  // two passes per batch plus the adapters (bench:train --paired: 2.07–2.34× full fine-tuning's step, median 2.15;
  // bench/results/train.md)
  relativeCost: 6.6,
  // two passes per batch: the default 64 means 128 rows through every layer (bench:train, ViT-Tiny at 224 on CPU:
  // peak 6.5 GB at batch 64, 3.5 GB at 32, 1.9 GB at 16; at ViT-Base PACE-fast alone peaks at 9.6 GB at batch 32,
  // full fine-tuning at 7.8 GB, bench/results/train.md, Notes; the trainer warns when a run may not fit)
  cpuBatch: 32,
  options: [
    { name: 'rank', flag: '--rank', description: 'adapter rank r', default: 10, kind: 'integer', min: 1 },
    {
      name: 'sigma',
      flag: '--pace-sigma',
      description: 'noise σ (1.5 for small sets, 1.2 for large)',
      default: 1.5,
      kind: 'number',
      min: 0,
    },
    { name: 'lambda', flag: '--pace-lambda', description: 'consistency weight λ', default: 1, kind: 'number', min: 0 },
    {
      name: 'fast',
      flag: '--pace-fast',
      description: "PACE-fast: one pass, consistency with last epoch's logits",
      default: false,
      kind: 'boolean',
    },
  ],
  // METHODS.md and Vision/train.py: AdamW lr 1e-3, weight decay 1e-4, batch 64, warm-up + cosine, no gradient clipping
  // per adapted layer: Wd [out, r] and Wu [r, in]; with a bias also Pd [in, r], Pu [r, 1], δb [out]
  trainableParameters: (g, o) => {
    const r = numberOption(pace.options, o, 'rank');
    return (
      blockLinears(g).reduce(
        (n, l) => n + r * (l.outFeatures + l.inFeatures) + (l.bias ? r * l.inFeatures + r + l.outFeatures : 0),
        0,
      ) + headParameters(g)
    );
  },
  defaults: { lr: 1e-3, weightDecay: 1e-4, epochs: 10, batch: 64, warmupEpochs: 1, labelSmoothing: 0, clipNorm: null },
  async prepare(ctx) {
    const r = numberOption(pace.options, ctx.options, 'rank');
    const sigma = numberOption(pace.options, ctx.options, 'sigma');
    const lambda = numberOption(pace.options, ctx.options, 'lambda');
    const fast = booleanOption(pace.options, ctx.options, 'fast');
    const wd = Number(ctx.options.weightDecay ?? pace.defaults.weightDecay);
    const layers = blockLinears(ctx.backbone.model.graph);
    if (!layers.length) throw new Error('PACE found no linear layers inside transformer blocks in this backbone');
    const L = Math.max(...layers.map((l) => l.block)) + 1;
    const sigmas = paceSigmas(L, sigma);
    const init = initAdapters(layers, r, ctx.seed);
    const weights = new Set(layers.map((l) => l.weight));
    const extraInputs: ExtraInput[] = [];
    const history = new LogitHistory(ctx.batch, ctx.backbone.numClasses);

    /** Inserts the adapters (`rows`: forward batch rows; `withNoise`: training); returns each layer's new output. */
    const adapt = (g: Graph, b: Builder, shapes: ShapeMap, rows: number, withNoise: boolean) => {
      for (const [k, t] of init) g.initializers.set(k, t);
      const adapted: { layer: LinearLayer; value: string }[] = [];
      blockLinears(g).forEach((l, i) => {
        if (!weights.has(l.weight)) return;
        // a bias the backbone ties to other layers is not adapted if prepare did not see it as this layer's own
        const own = init.has(paceNames(l.weight).pd) ? l : { ...l, bias: undefined };
        const s = sigmas[l.block] ?? 0;
        if (!withNoise || s <= 0) {
          // no noise on this layer: one product with the merged weight, not a frozen and an adapter product
          adapted.push({ layer: l, value: mergeIntoLayer(g, b, own) });
          return;
        }
        const lay = noiseLayout(g, shapes, l, rows);
        const spec: NoiseSpec = {
          name: `pace_noise_${i}`,
          layer: i,
          sigma: s,
          shape: lay.shape,
          rows,
          out: l.outFeatures,
        };
        extraInputs.push({
          name: spec.name,
          dtype: 'float32',
          shape: spec.shape,
          neutral: () => tensor('float32', spec.shape, new Float32Array(rows * spec.out).fill(1)),
          fill: (at) => noiseTensor(spec, at),
        });
        const ys = shapes.get(l.output)!.dims;
        // one batched product with per-sample merged weights (measured faster than a frozen and an adapter product);
        // the two products where the layer's rows do not have that form
        const batchAxis = (lay.view ?? lay.shape).slice(0, -1).findIndex((d) => d === rows);
        const merged = perSampleLayer(g, b, l, own, {
          view: lay.view ?? ys,
          batchAxis,
          rows,
          outShape: ys,
          noise: spec.name,
        });
        if (merged) {
          adapted.push({ layer: l, value: merged });
          return;
        }
        const dh = adapterOutput(b, own);
        const noisy = lay.view ? b.reshape(b.mul(b.reshape(dh, lay.view), spec.name), ys) : b.mul(dh, spec.name);
        const y = b.add(l.output, noisy);
        const adder = g.nodes[g.nodes.length - 1];
        replaceUses(g, l.output, y);
        adder.inputs[0] = l.output;
        adapted.push({ layer: l, value: y });
      });
      return adapted;
    };

    const B = ctx.batch;
    let dropPath: number | 'off' = PACE_DROP_PATH_RATE;
    let warned = false;
    // with λ = 0 the consistency term vanishes and the second pass only costs: train the noisy adapter on one pass
    const twoPass = !fast && lambda > 0;
    const transform = (g: Graph, b: Builder, shapes: ShapeMap) => {
      extraInputs.length = 0;
      const rows = twoPass ? 2 * B : B;
      if (twoPass) doubleBatch(g, B);
      const adapted = adapt(g, b, shapes, rows, true);
      // drop-path as the official training runs it: masks shared by the two copies, normalised by their mean for PACE
      const dp = insertDropPath(g, b, shapes, adapted, {
        rows,
        copies: twoPass ? 2 : 1,
        byMean: lambda > 0,
        blocks: L,
      });
      extraInputs.push(...dp.inputs);
      dropPath = dp.skipped ? 'off' : PACE_DROP_PATH_RATE;
      if (dp.skipped && !warned) {
        warned = true;
        ctx.onEvent?.({
          type: 'log',
          level: 'warn',
          message: `PACE trains without drop-path on this backbone (${dp.skipped}); the official code uses drop-path 0.1.`,
        });
      }
      if (twoPass) firstCopyLogits(g, b, B);
      else if (fast && lambda > 0) extraInputs.push(...history.inputs());
      topoSort(g);
    };

    const trainableNames = [...init.keys()];
    const fpDistanceOf = fpDistance(ctx.backbone.model, (g, b, shapes) => adapt(g, b, shapes, 0, false), init, B);

    return {
      program: {
        transform,
        evalTransform: (g, b, shapes) => adapt(g, b, shapes, 0, false),
        trainable: () => [
          ...trainableNames.map((name) => ({ name, weightDecay: wd, anchorAtZero: true })),
          { name: HEAD_WEIGHT, weightDecay: wd },
          { name: HEAD_BIAS, weightDecay: 0 },
        ],
        ...(lambda > 0
          ? {
              extraLoss: (b: Builder) => consistencyLoss(b, { lambda, B, fast }),
              reportScalars: { [PACE_TERM]: PACE_CONSISTENCY },
            }
          : {}),
        extraInputs,
        trainBatchMultiplier: twoPass ? 2 : 1,
      },
      state: { rank: r, sigma, lambda, fast, blocks: L, sigmas, adaptedLayers: layers.length },
      merge: (backbone: Model, trained: Map<string, Tensor>) => mergeAdapters(backbone, trained, layers, init),
      describe: () => ({
        trains: 'PACE adapters (LoRAmul + VPTadd) and head',
        rank: r,
        sigma,
        lambda,
        fast,
        adaptedLayers: layers.length,
        dropPath,
      }),
      afterStep: fast ? (s) => history.record(s) : undefined,
      // FP-distance (METHODS.md §PACE diagnostics) on held-out images
      epochDiagnostics: async (params: Map<string, Tensor>, heldOut: AsyncIterable<HeldOutBatch>) => ({
        fp_distance: await fpDistanceOf(params, heldOut),
      }),
    };
  },
};
