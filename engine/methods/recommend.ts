/**
 * Which method to suggest for a dataset, by training-set size: tiny (< 500 images), small (< 5 000), large.
 * Every reason says where its evidence comes from. Attune's own benchmark (bench/results/methods.md: ViT-Tiny on
 * 90–300 images, 3 seeds, short CPU schedules) could not separate full fine-tuning, L2-SP and SPD and measured no
 * large set, so no reason quotes it; the reasons cite the papers (METHODS.md anchors) and say so. Which method is
 * best on the user's own data is for a comparison run there to measure.
 */
import type { MethodDefaults, MethodOptions } from './method';
import { getMethod } from './registry';

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

/** The batch to propose: the method's default, capped at its declared CPU batch on a machine without an accelerator. */
export function deviceBatch(method: string, batch: number, hasAccelerator: boolean): number {
  const cap = getMethod(method).cpuBatch;
  return cap !== undefined && !hasAccelerator ? Math.min(batch, cap) : batch;
}

const COMPARE = 'Which method is best on your images is not known until you compare them on your data.';

export function recommendMethod(trainImages: number, opts: { hasAccelerator?: boolean } = {}): Recommendation {
  const size = sizeClass(trainImages);
  const gpu = opts.hasAccelerator === true;
  if (size === 'tiny' || size === 'small')
    return {
      size,
      method: 'spd',
      options: {},
      hyper: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32 },
      reason: `Adapts every layer while SPD holds back layers drifting from the pretrained weights; its paper (Tian et al., NeurIPS 2024) reports better accuracy than ordinary weight decay when fine-tuning. ${COMPARE}`,
      alternative: gpu
        ? {
            method: 'pace',
            reason:
              'From its paper: VTAB-1k 79.0 % against 68.9 % for full fine-tuning (ViT-B/16, 1 000 images per task, 300 epochs); two passes per batch, so a GPU makes it affordable.',
          }
        : size === 'tiny'
          ? {
              method: 'linear',
              reason:
                'Trains only the output layer on features computed once, so it finishes in seconds; in the papers it trails full fine-tuning (VTAB-1k 57.6 % against 68.9 %).',
            }
          : {
              method: 'lora',
              reason:
                'Trains a small fraction of the weights and merges into them on export; from its paper: FGVC 89.5 % against 85.9 % for full fine-tuning (ViT-B/16).',
            },
    };
  return {
    size,
    method: 'full',
    options: {},
    hyper: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32 },
    reason: `Trains every weight, the usual default when data is plentiful; neither Attune's benchmark nor the papers' anchors (1 000-image tasks) measured a set this large. ${COMPARE}`,
    alternative: {
      method: 'lora',
      reason:
        'Trains a small fraction of the weights (less optimizer memory) and merges into them on export, so the model runs as fast as the original.',
    },
  };
}
