/**
 * SPD — Selective Projection Decay (METHODS.md §SPD; Tian, Huang, Kira, NeurIPS 2024; official code
 * GT-RIPL/Selective-Projection-Decay, adamSPD.py). An update rule, usable with any method:
 *   θ̃ = Adam step from θ_{t−1} (no decoupled weight decay);
 *   c = −⟨g_t, θ_{t−1} − θ0⟩; if c < 0 (the step grows the deviation):
 *     r = clip((‖θ̃ − θ0‖ − ‖θ_{t−1} − θ0‖) / ‖θ̃ − θ0‖, 0, 1),  θ_t = θ̃ − λ·r·(θ̃ − θ0);
 *   otherwise θ_t = θ̃.
 * θ0 is the tensor's value before training (`UpdateInput.initial`, a constant initializer: zeros for
 * adapter tensors that start at zero). The new head is excluded (plain Adam): its anchor would be its random init.
 * Diagnostic `attune_spd_projected`: summed over tensors by the compiler, so per step it is the number of
 * tensors where the projection fired (divide by `spdTensorCount` for the fraction).
 */
import { int } from '../ir/graph';
import { adamDirection, type UpdateRule } from '../programs/optimizer';

export const SPD_PROJECTED = 'attune_spd_projected';
export const SPD_TENSORS = 'attune_spd_tensors';

export interface SpdSettings {
  /** λ ∈ [0, 1]; 1 projects back onto the previous deviation radius */
  lambda: number;
}

export function spdUpdate(s: SpdSettings): UpdateRule {
  return (u) => {
    const { b } = u;
    const { m, v, step } = adamDirection(u);
    const next = b.sub(u.param, step); // θ̃: Adam without decoupled decay (adamSPD.py applies no weight decay of its own)
    if (u.isHead) return { param: next, m, v };
    const anchor = b.constant(u.initial, 'spd_anchor');
    const prevDev = b.sub(u.param, anchor);
    const nextDev = b.sub(next, anchor);
    // c < 0  ⇔  ⟨g, θ_{t−1} − θ0⟩ > 0
    const inner = b.op('ReduceSum', [b.mul(u.grad, prevDev)], { keepdims: int(0) });
    const fires = b.op('Greater', [inner, b.scalar(0)]);
    const nextNorm = b.sqrt(b.sumSquares(nextDev));
    const prevNorm = b.sqrt(b.sumSquares(prevDev));
    // ‖θ̃ − θ0‖ = 0 only when θ̃ = θ0, where the projection moves nothing: guard the division
    const ratio = b.div(b.sub(nextNorm, prevNorm), b.op('Max', [nextNorm, b.scalar(1e-30)]));
    const r = b.op('Clip', [ratio, b.scalar(0), b.scalar(1)]);
    const projected = b.sub(next, b.mul(b.mul(b.scalar(s.lambda), r), nextDev));
    const param = b.op('Where', [fires, projected, next]);
    const fired = b.cast(fires, 1 /* FLOAT */);
    return { param, m, v, diagnostics: { [SPD_PROJECTED]: fired, [SPD_TENSORS]: b.scalar(1) } };
  };
}
