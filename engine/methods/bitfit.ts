/** BitFit (METHODS.md, baselines): only biases and the new head train; every weight matrix and norm stays frozen. */
import { HEAD_BIAS, HEAD_WEIGHT } from '../backbone/prepare';
import { biasTensors } from './layers';
import { headParameters, mergeByName, sizeOfTensors, type Method } from './method';

export const bitfit: Method = {
  name: 'bitfit',
  title: 'BitFit (biases only)',
  summary: 'Trains only the bias vectors and the new output layer (well under 1 % of the weights).',
  options: [],
  card: {},
  // bench:train: 0.65–0.73× full fine-tuning's step (bench/results/train.md)
  relativeCost: 2.1,
  trainableParameters: (g) => sizeOfTensors(g, biasTensors(g)) + headParameters(g),
  defaults: { lr: 1e-3, weightDecay: 1e-4, epochs: 10, batch: 32, warmupEpochs: 1, labelSmoothing: 0, clipNorm: 1 },
  async prepare(ctx) {
    const wd = Number(ctx.options.weightDecay ?? bitfit.defaults.weightDecay);
    let count = 0;
    return {
      program: {
        trainable: (g) => {
          const biases = biasTensors(g);
          count = biases.length;
          // biases are vectors: no decay on them (timm convention); the head's matrix decays
          return [
            ...biases.map((name) => ({ name, weightDecay: 0 })),
            { name: HEAD_WEIGHT, weightDecay: wd },
            { name: HEAD_BIAS, weightDecay: 0 },
          ];
        },
      },
      state: {},
      merge: mergeByName,
      describe: () => ({ trains: 'biases and head', biasTensors: count }),
    };
  },
};
