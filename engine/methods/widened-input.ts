/**
 * The first convolution widened to N bands (backbone/widen-input.ts) must train in every method that runs the
 * backbone: its new band filters start as a copy of the mean RGB filter and carry no band-specific signal until
 * trained. So any method that does not already train that weight (BitFit, LoRA, PACE, GPS' sparse rows) gets it
 * added as a dense trainable tensor; full fine-tuning, SPD and L2-SP already train it. The linear probe runs the
 * backbone frozen on cached features and stays as it is: there the widened input is a fixed projection.
 * Methods merge trained tensors by name (mergeByName), so the trained weight lands in the export unchanged.
 */
import { widenedInputOf } from '../backbone/widen-input';
import type { PreparedBackbone } from '../backbone/prepare';
import type { Method, PreparedMethod } from './method';

/** `prepared` with the widened input weight among its trainable tensors (a no-op without widening or for linear). */
export function trainWidenedInput(
  method: Method,
  prepared: PreparedMethod,
  backbone: PreparedBackbone,
  weightDecay: number,
): PreparedMethod {
  const widened = widenedInputOf(backbone.model);
  if (!widened || method.cachedFeatures) return prepared;
  const inner = prepared.program.trainable;
  return {
    ...prepared,
    program: {
      ...prepared.program,
      trainable: (g) => {
        const specs = inner(g);
        if (specs.some((s) => s.name === widened.weight) || !g.initializers.has(widened.weight)) return specs;
        return [...specs, { name: widened.weight, weightDecay }];
      },
    },
    describe: () => ({ ...prepared.describe(), inputChannels: widened.channels, trainsWidenedInput: true }),
  };
}
