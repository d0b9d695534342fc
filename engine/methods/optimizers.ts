/** Optimizers selectable with --optimizer besides AdamW. SPD (issue 4) registers here. */
import type { UpdateRule } from '../programs/optimizer';
import { adamW } from '../programs/optimizer';

export interface OptimizerSettings {
  lambda: number;
}

export const OPTIMIZERS: Record<'spd', (s: OptimizerSettings) => UpdateRule> = {
  // placeholder until engine/methods/spd.ts lands: refuses rather than silently training with AdamW
  spd: () => {
    throw new Error('SPD is not available in this build');
  },
};

export { adamW };
