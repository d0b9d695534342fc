/**
 * Cross-entropy against host-built soft targets: row i of `targets` is
 * w_i · ((1 − ε)·onehot(y_i) + ε/C), so label smoothing and padded rows (w_i = 0) need no graph ops.
 * loss = −Σ targets ⊙ log_softmax(logits) · invWeight, with invWeight = 1 / Σ w_i.
 */
import type { Builder } from '../ir/builder';
import { int } from '../ir/graph';

export function crossEntropy(b: Builder, logits: string, targets: string, invWeight: string): string {
  const logp = b.op('LogSoftmax', [logits], { axis: int(-1) });
  const total = b.op('ReduceSum', [b.mul(targets, logp)], { keepdims: int(0) });
  return b.neg(b.mul(total, invWeight));
}

/** Host side of the contract above. */
export function buildTargets(
  labels: ArrayLike<number>,
  weights: ArrayLike<number>,
  numClasses: number,
  smoothing: number,
): { targets: Float32Array; invWeight: number } {
  const n = labels.length;
  const t = new Float32Array(n * numClasses);
  let sw = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    sw += w;
    if (w === 0) continue;
    for (let c = 0; c < numClasses; c++) t[i * numClasses + c] = (w * smoothing) / numClasses;
    t[i * numClasses + labels[i]] += w * (1 - smoothing);
  }
  return { targets: t, invWeight: sw > 0 ? 1 / sw : 0 };
}
