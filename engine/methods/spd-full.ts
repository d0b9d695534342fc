/**
 * The `spd` method: full fine-tuning (full.ts) trained with the SPD update rule (spd.ts) instead of AdamW — the
 * same as `--method full --optimizer spd`, declared once so the CLI, the app and the recommendation need no
 * special case.
 */
import { full } from './full';
import type { Method } from './method';

export const spdFull: Method = {
  ...full,
  name: 'spd',
  title: 'SPD (full fine-tuning with selective projection decay)',
  summary:
    'Full fine-tuning whose optimizer pulls a layer back towards its pretrained weights when its step would carry it further away (the SPD condition).',
  card: {
    paper:
      'From its paper (Tian, Huang, Kira, NeurIPS 2024): better in- and out-of-distribution accuracy than fine-tuning with ordinary weight decay; it is not among the ViT-B anchors in METHODS.md.',
  },
  optimizer: 'spd',
};
