/**
 * Linear probe (METHODS.md, baselines): only the head trains. Fast path: the trainer computes
 * backbone features once (no augmentation) and trains the head on them for many epochs.
 */
import { HEAD_BIAS, HEAD_WEIGHT } from '../backbone/prepare';
import { headParameters, mergeByName, type Method } from './method';

export const linear: Method = {
  name: 'linear',
  title: 'Linear probe',
  summary:
    'Keeps the backbone frozen and trains only a new output layer on its features: one pass over the images to compute them, then each epoch takes seconds; a solid first baseline.',
  options: [],
  card: {
    paper: 'From the papers (ViT-B/16, METHODS.md anchors): VTAB-1k mean 57.6 % against 68.9 % for full fine-tuning.',
  },
  // one forward pass per image to cache the features; the epochs on cached features cost next to nothing
  relativeCost: 1,
  defaults: { lr: 1e-3, weightDecay: 1e-4, epochs: 30, batch: 32, warmupEpochs: 1, labelSmoothing: 0, clipNorm: null },
  cachedFeatures: true,
  trainableParameters: (g) => headParameters(g),
  async prepare(ctx) {
    const wd = Number(ctx.options.weightDecay ?? linear.defaults.weightDecay);
    return {
      program: {
        trainable: () => [
          { name: HEAD_WEIGHT, weightDecay: wd },
          { name: HEAD_BIAS, weightDecay: 0 },
        ],
      },
      state: {},
      merge: mergeByName,
      describe: () => ({ trains: 'head only' }),
    };
  },
};
