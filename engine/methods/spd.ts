/**
 * SPD — Selective Projection Decay (METHODS.md §SPD; Tian, Huang, Kira, NeurIPS 2024; official code
 * GT-RIPL/Selective-Projection-Decay, adamSPD.py). An update rule, usable with any method:
 *   θ̃ = Adam step from θ_{t−1} (no decoupled weight decay);
 *   c = −⟨g_t, θ_{t−1} − θ0⟩; if c < 0 (the condition of adamSPD.py, i.e. ⟨g_t, θ_{t−1} − θ0⟩ > 0):
 *     r = clip((‖θ̃ − θ0‖ − ‖θ_{t−1} − θ0‖) / ‖θ̃ − θ0‖, 0, 1),  θ_t = θ̃ − λ·r·(θ̃ − θ0);
 *   otherwise θ_t = θ̃.
 * θ0 is the anchor the compiler passes (`UpdateInput.anchor`): the pretrained value of a backbone tensor, and 0
 * for adapter tensors (the official README gives PEFT parameters no stored anchor, `'pre': None`, i.e. 0).
 * The new head is excluded (plain Adam): its anchor would be its random init.
 * Diagnostics, per step (METHODS.md asks for both): `attune_spd_condition`, the share of governed tensors where
 * the condition held; `attune_spd_projected`, the share where the projection moved the tensor (λ·r > 0). When the
 * second is 0, the step was plain Adam. `attune_spd_tensors` counts the governed tensors.
 */
import { int } from '../ir/graph';
import { adamDirection, type UpdateRule } from '../programs/optimizer';

export const SPD_CONDITION = 'attune_spd_condition';
export const SPD_PROJECTED = 'attune_spd_projected';
const SPD_TENSORS = 'attune_spd_tensors';

export interface SpdSettings {
  /** λ ∈ [0, 1]; 1 projects back onto the previous deviation radius */
  lambda: number;
}

export function spdUpdate(s: SpdSettings): UpdateRule {
  return (u) => {
    const { b } = u;
    const { m, v, step } = adamDirection(u);
    // θ̃: Adam without decoupled decay (adamSPD.py applies no weight decay of its own)
    const next = b.sub(u.param, step);
    if (u.isHead) return { param: next, m, v };
    const anchor = b.constant(u.anchor, 'spd_anchor');
    const prevDev = b.sub(u.param, anchor);
    const nextDev = b.sub(next, anchor);
    // c = −⟨g, θ_{t−1} − θ0⟩ < 0  ⇔  ⟨g, θ_{t−1} − θ0⟩ > 0
    const inner = b.op('ReduceSum', [b.mul(u.grad, prevDev)], { keepdims: int(0) });
    const fires = b.op('Greater', [inner, b.scalar(0)]);
    const nextNorm = b.sqrt(b.sumSquares(nextDev));
    const prevNorm = b.sqrt(b.sumSquares(prevDev));
    // ‖θ̃ − θ0‖ = 0 only when θ̃ = θ0, where the projection moves nothing: guard the division
    const ratio = b.div(b.sub(nextNorm, prevNorm), b.op('Max', [nextNorm, b.scalar(1e-30)]));
    const r = b.op('Clip', [ratio, b.scalar(0), b.scalar(1)]);
    const projected = b.sub(next, b.mul(b.mul(b.scalar(s.lambda), r), nextDev));
    const param = b.op('Where', [fires, projected, next]);
    const held = b.cast(fires, 1 /* FLOAT */);
    // moved only where the condition held and λ·r > 0 (r = 0 or λ = 0 leave θ̃ as it is)
    const moved = b.mul(held, b.cast(b.op('Greater', [b.mul(b.scalar(s.lambda), r), b.scalar(0)]), 1 /* FLOAT */));
    return {
      param,
      m,
      v,
      diagnostics: { [SPD_TENSORS]: b.scalar(1) },
      shares: { [SPD_CONDITION]: held, [SPD_PROJECTED]: moved },
    };
  };
}
