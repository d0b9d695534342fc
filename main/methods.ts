/**
 * Method cards shown when the engine does not (yet) list methods itself: names and one-sentence explanations
 * from docs METHODS.md. Numbers (trainable share, time) are left empty rather than guessed.
 */
import type { MethodInfo, MethodListing } from './jobs/engine-contract';

const BASE = { epochs: 10, batchSize: 32, learningRate: 1e-3 };

export const METHOD_COPY: Omit<MethodInfo, 'trainableShare' | 'secondsPerEpoch' | 'recommended'>[] = [
  { name: 'linear-probe', title: 'Linear probe', summary: 'Keeps the backbone frozen and trains only a new classifier on its features: the fastest and safest start.', defaults: { ...BASE, epochs: 30, learningRate: 1e-2 } },
  { name: 'lora', title: 'LoRA', summary: 'Adds small low-rank adapters to the attention and MLP weights and trains only those and the head.', defaults: { ...BASE, rank: 8 } },
  { name: 'gps', title: 'GPS', summary: 'Picks the few most useful weights in every neuron from their gradients, then trains just those.', defaults: { ...BASE, k: 1 } },
  { name: 'pace', title: 'PACE', summary: 'Trains adapters with noise and a consistency penalty, which generalises better on small datasets.', defaults: { ...BASE, lambda: 1, sigma: 1.5, rank: 10 } },
  { name: 'bitfit', title: 'BitFit', summary: 'Trains only the biases and the head: very few parameters, surprisingly strong.', defaults: { ...BASE } },
  { name: 'full', title: 'Full fine-tuning', summary: 'Trains every weight of the backbone: most flexible, slowest, and prone to overfitting small datasets.', defaults: { ...BASE, learningRate: 1e-4 } },
  { name: 'l2sp', title: 'L2-SP', summary: 'Full fine-tuning that pulls weights back towards their pretrained values to limit forgetting.', defaults: { ...BASE, learningRate: 1e-4, lambda: 0.01 } },
];

export function fallbackListing(trainCount: number | null): MethodListing {
  const rec = 'linear-probe';
  const why =
    trainCount !== null && trainCount < 5000
      ? `With ${trainCount} training images, a linear probe gives a reliable baseline within minutes; try LoRA or PACE next and compare.`
      : 'A linear probe gives a reliable baseline quickly; compare with an adapter method afterwards.';
  return {
    device: 'unknown',
    methods: METHOD_COPY.map((m) => ({ ...m, trainableShare: null, secondsPerEpoch: null, recommended: m.name === rec, why: m.name === rec ? why : undefined })),
    recommendation: { name: rec, why },
  };
}
