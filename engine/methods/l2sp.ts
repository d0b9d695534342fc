/**
 * L2-SP (METHODS.md, baselines; Li, Grandvalet, Davoine, ICML 2018): full fine-tuning with the penalty
 * (λ/2)·‖θ − θ0‖² towards the pretrained weights instead of weight decay (the reference SPD is compared with).
 * Implemented as an update rule: the penalty's gradient λ(θ − θ0) is added to the (clipped) loss gradient
 * before the Adam moments, i.e. exactly Adam on loss + (λ/2)‖θ − θ0‖² (clipping aside). The new head is
 * excluded from the penalty (its θ0 is a random init) and gets plain AdamW decay instead, as in the paper's
 * separate β‖w_head‖² term.
 */
import { adamW, type UpdateRule } from '../programs/optimizer';
import { full, trainableWeights } from './full';
import { mergeByName, numberOption, type Method } from './method';

export function l2spUpdate(lambda: number): UpdateRule {
  return (u) => {
    if (u.isHead) return adamW(u);
    const { b } = u;
    const anchor = b.constant(u.anchor, 'l2sp_anchor');
    const grad = b.add(u.grad, b.mul(b.scalar(lambda), b.sub(u.param, anchor)));
    return adamW({ ...u, grad, weightDecay: 0 });
  };
}

export const l2sp: Method = {
  name: 'l2sp',
  title: 'L2-SP (full fine-tuning anchored to the pretrained weights)',
  summary: 'Trains every weight with a penalty that pulls it towards its pretrained value instead of towards zero.',
  card: {},
  relativeCost: 3,
  options: [
    // Li et al. use α = 0.1 for the SP term with SGD; with Adam the same λ is a mild pull
    {
      name: 'lambda',
      flag: '--l2sp-lambda',
      description: 'strength λ of the (λ/2)·‖θ − θ0‖² penalty',
      default: 0.1,
      kind: 'number',
      min: 0,
    },
  ],
  trainableParameters: (g, o) => full.trainableParameters(g, o),
  defaults: { lr: 1e-4, weightDecay: 1e-4, epochs: 10, batch: 32, warmupEpochs: 1, labelSmoothing: 0.1, clipNorm: 1 },
  async prepare(ctx) {
    const lambda = numberOption(l2sp.options, ctx.options, 'lambda');
    const wd = Number(ctx.options.weightDecay ?? l2sp.defaults.weightDecay);
    return {
      program: {
        trainable: (g) => trainableWeights(g, wd),
      },
      update: l2spUpdate(lambda),
      state: {},
      merge: mergeByName,
      describe: () => ({ trains: 'all weights', l2spLambda: lambda }),
    };
  },
};
