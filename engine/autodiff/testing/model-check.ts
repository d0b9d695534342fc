/** Whole-model gradient checks: a real exported graph, folded, in float64, every parameter trainable. */
import { mulberry32 } from '../../util/random';
import { foldConstants, parameterNames } from '../../ir/fold';
import type { Model } from '../../ir/graph';
import { sizeOf, tensor, type Tensor } from '../../ir/tensor';
import { addProjectionLoss, checkGradients, type CheckOptions, type GradcheckReport } from './gradcheck';
import { toFloat64Model } from './f64';

export interface ModelCheck extends GradcheckReport {
  /** tensors whose gradients were checked (parameters, then the image input) */
  wrt: string[];
}

/**
 * Folds `model` for `inputShape`, casts it to float64, turns every float parameter into a graph
 * input (so finite differences can perturb it), adds a projection loss on the first output and
 * checks `samples` random entries of every parameter's and the input's gradient.
 * Parameters get uniform noise of ±`jitter` (default 0.1): fixtures start from torchvision's init,
 * whose zero head and class token would make every upstream gradient exactly zero (a vacuous check).
 */
export async function gradcheckModel(
  model: Model,
  inputShape: number[],
  opts: CheckOptions & { samples: number; jitter?: number },
): Promise<ModelCheck> {
  const input = model.graph.inputs[0].name;
  const { model: folded } = await foldConstants(model, { [input]: inputShape });
  const m = toFloat64Model(folded);
  const g = m.graph;
  const r = mulberry32(opts.seed ?? 3);
  const feeds: Record<string, Tensor> = {
    [input]: tensor(
      'float64',
      inputShape,
      Array.from({ length: sizeOf(inputShape) }, () => 2 * r() - 1),
    ),
  };
  const params = [...parameterNames(g)];
  for (const p of params) {
    const t = g.initializers.get(p)!;
    const jitter = opts.jitter ?? 0.1;
    g.initializers.delete(p);
    g.inputs.push({ name: p, dtype: 'float64', shape: t.dims });
    feeds[p] = tensor(
      'float64',
      t.dims,
      Array.from(t.data as Float64Array, (v) => v + jitter * (2 * r() - 1)),
    );
  }
  const loss = await addProjectionLoss(m, [g.outputs[0].name], r);
  const wrt = [...params, input];
  return { ...(await checkGradients(m, loss, wrt, feeds, opts)), wrt };
}
