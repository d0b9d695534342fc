/**
 * A per-sample weight, y_s = x_s·(W0 + W' ⊙ z_s) with x [rows, tokens, in], W0 frozen [in, out] (or broadcast),
 * W' trainable [in, out] and z [rows, 1, out] constant: PACE's noisy layer as one batched product
 * (methods/pace/adapter.ts perSampleLayer). The generic rules would form the per-sample ∂L/∂W_s = x_sᵀ·∂y_s
 * ([rows, in, out]), scale it by z and sum it over rows; since z is per output channel that sum is one product,
 * ∂W' = Σ_s x_sᵀ·(∂y_s ⊙ z_s) = x̄ᵀ·(∂y ⊙ z)‾ with the rows and tokens flattened into one axis. ∂x comes from the
 * product's own rule with W_s built again in the backward: keeping the forward's would hold every noisy layer's
 * [rows, in, out] weights from the forward to the backward (about 0.6 GB for ViT-Tiny at 32 rows); building them
 * again costs about 4 % of PACE-fast's step (bench/results/train.md, Notes).
 */
import type { Builder } from '../ir/builder';
import { int, producers, type Graph, type Node } from '../ir/graph';
import { soleReaders } from './helpers';

export interface PerSampleWeight {
  /** W', the trainable [in, out] part scaled per sample */
  w: string;
  /** z [rows, 1, out] */
  z: string;
  /** the Mul and Add that build W_s, differentiated here as one */
  chain: Node[];
}

/**
 * Per-sample weights of `g`, keyed by the MatMul that reads them. `active(t)`: t depends on a trainable tensor and
 * reaches the loss; `dims(t)`: its static shape.
 */
export function perSampleWeights(
  g: Graph,
  active: (t: string) => boolean,
  dims: (t: string) => number[] | undefined,
): Map<Node, PerSampleWeight> {
  const only = soleReaders(g);
  const prod = producers(g);
  const found = new Map<Node, PerSampleWeight>();
  for (const mm of g.nodes) {
    const [x, ws] = mm.inputs;
    if (mm.op !== 'MatMul' || mm.domain || !x || !ws || only(ws) !== mm) continue;
    const add = prod.get(ws);
    if (!add || add.op !== 'Add' || add.domain) continue;
    const mulAt = add.inputs.findIndex((i) => prod.get(i)?.op === 'Mul' && !prod.get(i)!.domain && active(i));
    if (mulAt < 0) continue;
    const mulOut = add.inputs[mulAt];
    const w0 = add.inputs[1 - mulAt];
    const mul = prod.get(mulOut)!;
    if (!w0 || active(w0) || only(mulOut) !== add) continue;
    const wAt = mul.inputs.findIndex((i) => active(i));
    const [w, z] = [mul.inputs[wAt], mul.inputs[1 - wAt]];
    if (wAt < 0 || !z || active(z)) continue;
    const [xd, wd, zd, sd] = [dims(x), dims(w), dims(z), dims(ws)];
    if (!xd || !wd || !zd || !sd || xd.length !== 3 || wd.length !== 2 || zd.length !== 3 || sd.length !== 3) continue;
    const [rows, , inF] = xd;
    const out = wd[1];
    // z broadcast per sample and output channel only; W_s exactly [rows, in, out]
    if (zd.join() !== [rows, 1, out].join() || sd.join() !== [rows, inF, out].join() || wd[0] !== inF) continue;
    found.set(mm, { w, z, chain: [mul, add] });
  }
  return found;
}

/**
 * W_s = W0 + W' ⊙ z again, for the backward. Both ops take their operands in the other order than the forward's
 * (the same values: floating-point addition and multiplication commute), so that onnxruntime's common-subexpression
 * pass does not merge it back into the forward's tensor.
 */
export function perSampleWeightAgain(b: Builder, p: PerSampleWeight): string {
  const [mul, add] = p.chain;
  const scaled = b.mul(mul.inputs[1], mul.inputs[0]);
  const [first, second] = add.inputs.map((i) => (i === mul.outputs[0] ? scaled : i));
  return b.add(second, first);
}

/** ∂W' = x̄ᵀ·(∂y ⊙ z)‾ for y = x·(W0 + W' ⊙ z), x [rows, tokens, in] and ∂y [rows, tokens, out]. */
export function perSampleGrad(b: Builder, p: PerSampleWeight, x: string, dy: string, inF: number, out: number): string {
  const x2 = b.reshape(x, [-1, inF]);
  const d2 = b.reshape(b.mul(dy, p.z), [-1, out]);
  return b.op('Gemm', [x2, d2], { transA: int(1) });
}
