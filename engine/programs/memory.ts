/**
 * How much memory a training run needs, estimated from its compiled step before it runs, so that the user hears
 * it before the system stops the run. A step's peak is set by the activations the backward reads (a simulation of
 * the live tensors in onnxruntime's order puts full fine-tuning's peak within a few % of them; bench/results/
 * train.md, Notes): they are counted from the static shapes, and the weights, state and onnxruntime's own added
 * with constants fitted to real runs (below).
 */
import type { ShapeMap } from '../ir/fold';
import type { DType, Tensor } from '../ir/tensor';
import { allocate, sizeOf } from '../ir/tensor';
import { downstreamOf, type Graph } from '../ir/graph';
import type { MemoryNotice } from '../events';

/** Bytes of a tensor: its element size from the typed array `allocate` holds it in. */
const tensorBytes = (dtype: DType, dims: readonly number[]): number =>
  sizeOf(dims) * allocate(dtype, 0).BYTES_PER_ELEMENT;

export interface StepMemory {
  /** forward values that backward or update nodes read: held from the forward to the backward */
  savedBytes: number;
  /** the largest value the forward computes from the images (the working set of a pass grows with it) */
  largestBytes: number;
  /** frozen weights and constants (onnxruntime may keep a pre-packed copy of a product's weight beside each) */
  constantBytes: number;
  /** trainable tensors: value, gradient and two moments, fed and fetched every step */
  stateBytes: number;
}

/**
 * Counts a compiled step's memory from its graph: `forwardNodes` is how many of `g.nodes` (from the start) are the
 * forward pass, `image` its image input, `shapes` every forward value's static shape, `trainable` the trainable
 * tensors' initial values.
 */
export function stepMemory(
  g: Graph,
  forwardNodes: number,
  image: string,
  shapes: ShapeMap,
  trainable: Map<string, Tensor>,
): StepMemory {
  const forward = g.nodes.slice(0, forwardNodes);
  const made = new Set(forward.flatMap((n) => n.outputs));
  const saved = new Set<string>();
  for (const n of g.nodes.slice(forwardNodes)) for (const i of n.inputs) if (i && made.has(i)) saved.add(i);
  const bytes = (name: string) => {
    const s = shapes.get(name);
    return s ? tensorBytes(s.dtype, s.dims) : 0;
  };
  let savedBytes = 0;
  for (const s of saved) savedBytes += bytes(s);
  const fromImage = downstreamOf(forward, [image]);
  let largestBytes = 0;
  for (const o of made) if (fromImage.has(o)) largestBytes = Math.max(largestBytes, bytes(o));
  let constantBytes = 0;
  for (const t of g.initializers.values()) constantBytes += tensorBytes(t.dtype, t.dims);
  let stateBytes = 0;
  for (const t of trainable.values()) stateBytes += 4 * tensorBytes(t.dtype, t.dims);
  return { savedBytes, largestBytes, constantBytes, stateBytes };
}

/**
 * The trainer process's peak resident memory on the CPU, in bytes: a least-squares fit (of the relative error) to
 * the peaks of 17 real `attune train` runs on ViT-Tiny, MobileNetV2 and ViT-Base (every method, batch 32; worst
 * case 13 % off; `npm run bench:memory` measures it again). GPS on MobileNetV2 is left out: from its second step its
 * process holds about 1 GB more than its live tensors (bench/results/memory.md, Notes), which no term here
 * explains. Per byte of: what the forward keeps for the backward; its largest activation (the working set of a pass,
 * and the arena's slack, grow with it), once more for each session a method keeps for per-epoch diagnostics (PACE's
 * FP-distance runs the backbone in its own session); the trainable state (fed and fetched every step, and held again
 * by the host); frozen weights (held by the host's model, by each session and again pre-packed). On a backbone
 * unlike these three, expect a larger error.
 */
const FIT = { base: 713 * 2 ** 20, saved: 0.79, largest: 5.27, state: 3.66, constant: 9.55, diagnosticSession: 36.7 };

/** `diagnosticSessions`: forward sessions of the backbone the run holds besides training and evaluation. */
export function estimatePeakBytes(m: StepMemory, diagnosticSessions = 0): number {
  return (
    FIT.base +
    FIT.saved * m.savedBytes +
    (FIT.largest + FIT.diagnosticSession * diagnosticSessions) * m.largestBytes +
    FIT.state * m.stateBytes +
    FIT.constant * m.constantBytes
  );
}

/** The count at another batch: what the forward computes scales with the batch; weights and state do not. */
export function scaledToBatch(m: StepMemory, batch: number, other: number): StepMemory {
  const f = other / batch;
  return { ...m, savedBytes: m.savedBytes * f, largestBytes: m.largestBytes * f };
}

/** The estimate at another batch. */
export const estimateAtBatch = (m: StepMemory, batch: number, other: number, diagnosticSessions = 0): number =>
  estimatePeakBytes(scaledToBatch(m, batch, other), diagnosticSessions);

/** Bytes as the estimate's messages give them. */
export const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/** The estimate's error on the runs it was fitted to is within about ±13 %: a run "fits" with 25 % to spare. */
export const ESTIMATE_MARGIN = 1.25;

/** What to tell the user before the first step: the estimate, and a smaller batch when it would not fit. */
export function memoryAdvice(
  m: StepMemory,
  batch: number,
  availableBytes: number,
  diagnosticSessions = 0,
): MemoryNotice {
  const estimatedBytes = estimatePeakBytes(m, diagnosticSessions);
  const base = { estimatedBytes, availableBytes, batch };
  if (estimatedBytes * ESTIMATE_MARGIN <= availableBytes)
    return {
      ...base,
      enough: true,
      fitsBatch: null,
      fitsBatchBytes: null,
      message: `Memory: this run needs about ${gb(estimatedBytes)} at batch ${batch} (estimated from its training program; ${gb(availableBytes)} available).`,
    };
  let fitsBatch: number | null = null;
  for (let b = Math.floor(batch / 2); b >= 1; b = Math.floor(b / 2))
    if (estimateAtBatch(m, batch, b, diagnosticSessions) * ESTIMATE_MARGIN <= availableBytes) {
      fitsBatch = b;
      break;
    }
  const fitsBatchBytes = fitsBatch === null ? null : estimateAtBatch(m, batch, fitsBatch, diagnosticSessions);
  const what = `Memory: this run may need about ${gb(estimatedBytes)} at batch ${batch} (an estimate, within about 25 %), and ${gb(availableBytes)} is available now, so the system may stop it or slow everything down.`;
  const fix =
    fitsBatch !== null && fitsBatchBytes !== null
      ? ` Batch ${fitsBatch} would need about ${gb(fitsBatchBytes)}: stop this run and lower the batch size (in the app: Method, Expert view, Advanced settings; attune train: --batch ${fitsBatch}), or close other programs to free memory.`
      : ` Even batch 1 would need more: choose a lighter method (BitFit or the linear probe) or a smaller backbone, or close other programs to free memory.`;
  return { ...base, enough: false, fitsBatch, fitsBatchBytes, message: what + fix };
}
