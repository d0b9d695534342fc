/** Which update rule a run uses: AdamW by default; SPD (engine/methods/spd) when the run asks for it. */
import type { PreparedMethod } from '../methods/method';
import type { UpdateRule } from '../programs/optimizer';
import type { Hyper } from '../run/spec';
import { OPTIMIZERS } from '../methods/optimizers';

export function resolveSpdUpdate(hyper: Hyper, prepared: PreparedMethod): UpdateRule | undefined {
  if (hyper.optimizer === 'adamw') return prepared.update;
  const make = OPTIMIZERS[hyper.optimizer];
  return make({ lambda: hyper.spdLambda });
}
