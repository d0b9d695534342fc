/** Sub-models of a prepared backbone used by the linear-probe fast path. */
import { FEATURES, HEAD_BIAS, HEAD_WEIGHT, headNode, LOGITS, type PreparedBackbone } from '../backbone/prepare';
import { cloneModel, pruneDead, type Model } from '../ir/graph';

/** The backbone up to the feature vector: output `attune_features`. */
export function featureModel(p: PreparedBackbone): Model {
  const m = cloneModel(p.model);
  const batch = m.graph.inputs[0].shape[0];
  m.graph.outputs = [{ name: FEATURES, dtype: 'float32', shape: [batch, p.featureDim] }];
  pruneDead(m.graph);
  return m;
}

/** The head alone: input `attune_features` [batch, dim] → Gemm → logits. */
export function headModel(p: PreparedBackbone): Model {
  const init = p.model.graph.initializers;
  return {
    ...p.model,
    graph: {
      name: 'attune_head',
      nodes: [headNode()],
      initializers: new Map([
        [HEAD_WEIGHT, init.get(HEAD_WEIGHT)!],
        [HEAD_BIAS, init.get(HEAD_BIAS)!],
      ]),
      inputs: [{ name: FEATURES, dtype: 'float32', shape: ['batch', p.featureDim] }],
      outputs: [{ name: LOGITS, dtype: 'float32', shape: ['batch', p.numClasses] }],
    },
  };
}
