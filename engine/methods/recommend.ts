/**
 * Which method to suggest for a dataset, with one honest line of why. Presets by training-set size:
 * tiny (< 500 images), small (< 5 000), large. The reasons cite the papers' ViT-B results (METHODS.md,
 * paper anchors) and say where our own CPU benchmark (bench/results/methods.md, ViT-Tiny) is too noisy to add to them.
 */
import type { MethodDefaults, MethodOptions } from './method';

export type SizeClass = 'tiny' | 'small' | 'large';

export interface Recommendation {
  size: SizeClass;
  method: string;
  options: MethodOptions;
  hyper: Partial<MethodDefaults>;
  reason: string;
  /** a cheaper or faster choice to show next to it */
  alternative: { method: string; reason: string };
}

export function sizeClass(trainImages: number): SizeClass {
  return trainImages < 500 ? 'tiny' : trainImages < 5000 ? 'small' : 'large';
}

export function recommendMethod(trainImages: number, opts: { hasAccelerator?: boolean } = {}): Recommendation {
  const size = sizeClass(trainImages);
  if (size === 'tiny')
    return {
      size,
      method: 'pace',
      options: { sigma: 1.5, lambda: 1, rank: 10 },
      hyper: { lr: 1e-3, weightDecay: 1e-4, epochs: 30, batch: opts.hasAccelerator ? 64 : 16 },
      reason: 'Few images: PACE regularises small adapters against noise and was the most accurate method on VTAB-1k (1 000-image tasks) in its paper (79.0 vs 68.9 for full fine-tuning).',
      alternative: { method: 'linear', reason: 'Trains in seconds and cannot overfit the backbone; a useful first baseline on any dataset.' },
    };
  if (size === 'small')
    return {
      size,
      method: 'gps',
      options: { k: 1 },
      hyper: { lr: 1e-3, epochs: 20, batch: 32 },
      reason: 'A few thousand images: GPS trains ~0.2 % of the weights chosen from the data and beat full fine-tuning on VTAB and FGVC in its paper; it exports a small patch as well as the model.',
      alternative: { method: 'pace', reason: 'Usually as accurate, but twice the compute per step (two noisy passes).' },
    };
  return {
    size,
    method: 'full',
    options: {},
    hyper: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32 },
    reason: 'Many images: full fine-tuning has enough data not to overfit and is the strongest baseline; add --optimizer spd to keep it closer to the pretrained weights.',
    alternative: { method: 'lora', reason: 'Nearly as accurate with a fraction of the optimizer memory; merged into the weights on export.' },
  };
}
