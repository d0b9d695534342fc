/**
 * Optimizer updates emitted as ONNX ops, one tensor at a time. Follows torch.optim.AdamW exactly:
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − (lr / bc1) · m / (√v / √bc2 + ε),  bc_k = 1 − β_k^t (computed on the host, fed as inputs).
 * Other update rules (SPD) implement the same interface in engine/methods.
 */
import type { Builder } from '../ir/builder';
import type { Tensor } from '../ir/tensor';

export interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
}
export const ADAM_DEFAULTS: AdamHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** Scalars every update rule can read; all are graph inputs. */
export interface StepScalars {
  lr: string;
  /** 1 − β1^t */
  bc1: string;
  /** 1 − β2^t */
  bc2: string;
}

export interface UpdateInput {
  b: Builder;
  param: string;
  grad: string;
  m: string;
  v: string;
  scalars: StepScalars;
  hyper: AdamHyper;
  weightDecay: number;
  /**
   * θ0 for SPD and L2-SP (METHODS.md): the tensor's pretrained value, or zeros for adapter tensors
   * (TrainableSpec.anchorAtZero)
   */
  anchor: Tensor;
  /** the new classification head (SPD excludes it: its anchor would be a random init) */
  isHead: boolean;
}

export interface UpdateOutput {
  param: string;
  m: string;
  v: string;
  /** named scalar diagnostics, summed over tensors by the compiler (e.g. SPD: 1 per tensor it governs) */
  diagnostics?: Record<string, string>;
  /** named 0/1 scalars, averaged over the tensors reporting them: the share of tensors where something held */
  shares?: Record<string, string>;
}

export type UpdateRule = (u: UpdateInput) => UpdateOutput;

/** The Adam moment update and the bias-corrected step direction, shared by AdamW and SPD. */
export function adamDirection(u: UpdateInput): { m: string; v: string; step: string } {
  const { b, grad, hyper, scalars } = u;
  const m = b.add(b.mul(u.m, b.scalar(hyper.beta1)), b.mul(grad, b.scalar(1 - hyper.beta1)));
  const v = b.add(b.mul(u.v, b.scalar(hyper.beta2)), b.mul(b.mul(grad, grad), b.scalar(1 - hyper.beta2)));
  const denom = b.add(b.div(b.sqrt(v), b.sqrt(scalars.bc2)), b.scalar(hyper.eps));
  const step = b.mul(b.div(scalars.lr, scalars.bc1), b.div(m, denom));
  return { m, v, step };
}

export const adamW: UpdateRule = (u) => {
  const { b } = u;
  const { m, v, step } = adamDirection(u);
  const decayed =
    u.weightDecay > 0 ? b.mul(u.param, b.sub(b.scalar(1), b.mul(u.scalars.lr, b.scalar(u.weightDecay)))) : u.param;
  return { param: b.sub(decayed, step), m, v };
};

/**
 * Scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)) (torch.nn.utils.clip_grad_norm_).
 * Returns the clipped gradients and the pre-clip global norm.
 */
export function clipByGlobalNorm(
  b: Builder,
  grads: string[],
  maxNorm: number | null,
): { grads: string[]; norm: string } {
  const sq = grads.map((g) => b.sumSquares(g));
  const norm = b.sqrt(b.sum(sq));
  if (maxNorm === null || !Number.isFinite(maxNorm)) return { grads, norm };
  const scale = b.op('Min', [b.scalar(1), b.div(b.scalar(maxNorm), b.add(norm, b.scalar(1e-6)))]);
  return { grads: grads.map((g) => b.mul(g, scale)), norm };
}
