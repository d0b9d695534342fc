/** Optimizers selectable with --optimizer besides AdamW. */
import type { UpdateRule } from '../programs/optimizer';
import { spdUpdate } from './spd';

export interface OptimizerSettings {
  lambda: number;
}

export const OPTIMIZERS: Record<'spd', (s: OptimizerSettings) => UpdateRule> = {
  // METHODS.md §SPD: Adam step + selective projection towards the pretrained anchor
  spd: (s) => spdUpdate({ lambda: s.lambda }),
};
