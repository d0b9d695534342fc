/** Which update rule a run uses: AdamW by default; SPD (engine/methods/spd) when the run asks for it. */
import type { PreparedMethod } from '../methods/method';
import type { Model } from '../ir/graph';
import { compileTrainProgram, type TrainProgram } from '../programs/compile';
import { ADAM_DEFAULTS, type UpdateRule } from '../programs/optimizer';
import type { Hyper } from '../run/spec';
import { OPTIMIZERS } from '../methods/optimizers';

export function resolveSpdUpdate(hyper: Hyper, prepared: PreparedMethod): UpdateRule | undefined {
  if (hyper.optimizer === 'adamw') return prepared.update;
  const make = OPTIMIZERS[hyper.optimizer];
  return make({ lambda: hyper.spdLambda });
}

/** The training step a run compiles for `model` and its prepared method: the trainer's, and the one its memory
 * estimate counts before the run exists (run/memory-estimate.ts). */
export function compileRunStep(
  model: Model,
  prepared: PreparedMethod,
  hyper: Hyper,
  batch: number,
  numClasses: number,
): Promise<TrainProgram> {
  return compileTrainProgram(model, prepared.program, {
    batch,
    numClasses,
    update: resolveSpdUpdate(hyper, prepared),
    clipNorm: hyper.clipNorm,
    hyper: ADAM_DEFAULTS,
  });
}
