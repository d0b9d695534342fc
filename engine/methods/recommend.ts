/**
 * Which method to suggest for a dataset, with one honest line of why. Presets by training-set size:
 * tiny (< 500 images), small (< 5 000), large. The reasons rest on our own benchmark where it measured something
 * (bench/results/methods.md: ViT-Tiny on 90–300 images of aerial scenes and breast ultrasound, CPU) and on the
 * papers' ViT-B results (METHODS.md, paper anchors) where it did not; they say which is which.
 * In that benchmark full fine-tuning with SPD was the most accurate method that trains the backbone on both sets,
 * and GPS, BitFit and PACE did not reach full fine-tuning in the short runs a CPU allows, so none of them is the
 * first suggestion; PACE is offered as the alternative where an accelerator makes its cost reasonable.
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

/**
 * A batch that fits a machine without an accelerator: PACE runs the batch twice in one pass, so its default 64 means
 * 128 rows through every layer (about 16 GB with ViT-Tiny at 224 on CPU, bench/results/methods.md); 16 stays under 5 GB.
 */
export function deviceBatch(method: string, batch: number, hasAccelerator: boolean): number {
  return method === 'pace' && !hasAccelerator ? Math.min(batch, 16) : batch;
}

export function recommendMethod(trainImages: number, opts: { hasAccelerator?: boolean } = {}): Recommendation {
  const size = sizeClass(trainImages);
  const gpu = opts.hasAccelerator === true;
  if (size === 'tiny' || size === 'small')
    return {
      size,
      method: 'spd',
      options: {},
      hyper: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32 },
      reason:
        size === 'tiny'
          ? 'Few images: in our benchmark full fine-tuning with SPD was the most accurate method that adapts the backbone, on aerial scenes (87.8 %) and ultrasound (70.4 %, far above the linear probe\'s 40.7 %); SPD holds back layers that drift from the pretrained weights.'
          : 'Hundreds to a few thousand images: full fine-tuning with SPD was the most accurate backbone-training method in our (smaller) benchmark; SPD holds back layers that drift from the pretrained weights.',
      alternative: gpu
        ? { method: 'pace', reason: 'The most accurate method in its paper on 1 000-image tasks (VTAB-1k 79.0 vs 68.9 for full fine-tuning); it did not beat full fine-tuning in our short CPU runs, and costs about 3× per epoch — worth a try on a GPU.' }
        : size === 'tiny'
          ? { method: 'linear', reason: 'Trains in seconds; best in our benchmark on aerial photos (92.2 %), which resemble its pretraining images, but far behind on ultrasound (40.7 %).' }
          : { method: 'lora', reason: 'Close behind in our benchmark (84.4 % vs 87.8 % on aerial scenes) with a fraction of the optimizer memory, and ahead of full fine-tuning in its paper on FGVC (89.5 vs 85.9).' },
    };
  return {
    size,
    method: 'full',
    options: {},
    hyper: { lr: 1e-4, weightDecay: 0.05, epochs: 10, batch: 32 },
    reason: 'Many images: full fine-tuning has enough data not to overfit and was the strongest method in our benchmark and in the papers\' large-data results; add --optimizer spd to keep it closer to the pretrained weights.',
    alternative: { method: 'lora', reason: 'Nearly as accurate with a fraction of the optimizer memory; merged into the weights on export.' },
  };
}
