/** Full fine-tuning (METHODS.md, baselines): every parameter trains with AdamW. */
import { isFloat } from '../ir/tensor';
import type { Graph } from '../ir/graph';
import type { TrainableSpec } from '../programs/compile';
import { mergeByName, sizeOfTensors, type Method } from './method';

/** Every float initializer of rank ≥ 1 is a parameter; decay only matrices and kernels (timm convention). */
function allParameters(g: Graph, weightDecay: number): TrainableSpec[] {
  return [...g.initializers]
    .filter(([, t]) => isFloat(t.dtype) && t.dims.length > 0)
    .filter(([k]) => !/running_(mean|var)|\.(mean|var)$/.test(k))
    .map(([name, t]) => ({ name, weightDecay: t.dims.length >= 2 ? weightDecay : 0 }));
}

/** BatchNormalization statistics are not parameters: they stay frozen (METHODS.md: frozen statistics). */
function batchNormStatistics(g: Graph): Set<string> {
  const s = new Set<string>();
  for (const n of g.nodes) if (n.op === 'BatchNormalization') for (const i of n.inputs.slice(3)) if (i) s.add(i);
  return s;
}

/** Every parameter but BatchNorm statistics. */
export function trainableWeights(g: Graph, weightDecay: number): TrainableSpec[] {
  const stats = batchNormStatistics(g);
  return allParameters(g, weightDecay).filter((t) => !stats.has(t.name));
}

export const full: Method = {
  name: 'full',
  title: 'Full fine-tuning',
  summary: 'Trains every weight of the backbone and the new head with AdamW.',
  options: [],
  card: {
    paper:
      'From the papers (ViT-B/16, METHODS.md anchors): VTAB-1k mean 68.9 %, FGVC 85.9 %; the parameter-efficient methods scored higher on those 1 000-image tasks.',
  },
  relativeCost: 3,
  trainableParameters: (g) =>
    sizeOfTensors(
      g,
      trainableWeights(g, 0).map((t) => t.name),
    ),
  defaults: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32, warmupEpochs: 1, labelSmoothing: 0.1, clipNorm: 1 },
  async prepare(ctx) {
    const wd = Number(ctx.options.weightDecay ?? full.defaults.weightDecay);
    return {
      program: {
        trainable: (g) => trainableWeights(g, wd),
      },
      state: {},
      merge: mergeByName,
      describe: () => ({ trains: 'all weights' }),
    };
  },
};
