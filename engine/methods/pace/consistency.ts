/**
 * PACE's consistency term (METHODS.md §PACE; Vision/pace/pace_ops.py):
 *  - PACE: two passes with independent noise run as one pass over [x; x]; L += λ·mean_b ‖f1 − f2‖²
 *    (PACE_MSELoss: sum over classes, mean over the batch);
 *  - PACE-fast: one pass; the term compares with the logits the same file got when last seen (previous epoch),
 *    and is skipped for files not seen yet (compute_loss_pace_fast).
 */
import { LOGITS } from '../../backbone/prepare';
import type { Builder } from '../../ir/builder';
import { int, producers, replaceUses, type Graph } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { INV_WEIGHT, TARGETS, type ExtraInput } from '../../programs/compile';
import type { StepResult } from '../method';

export const PACE_CONSISTENCY = 'attune_pace_consistency';
/** the consistency term as a reported scalar (the epoch diagnostics show it as pace_term) */
export const PACE_TERM = 'attune_pace_term';
const PREV_LOGITS = 'pace_prev_logits';
const PREV_MASK = 'pace_prev_mask';
const LOGITS_ALL = 'pace_logits_all';

/** Before the forward: the image input stays [B, …] and the network reads [x; x] ([2B, …]). */
export function doubleBatch(g: Graph, B: number): void {
  const inp = g.inputs[0];
  const doubled = 'pace_x2';
  replaceUses(g, inp.name, doubled);
  g.nodes.unshift({
    name: 'pace_concat',
    op: 'Concat',
    domain: '',
    inputs: [inp.name, inp.name],
    outputs: [doubled],
    attrs: { axis: int(0) },
  });
  inp.shape = [B, ...inp.shape.slice(1)];
}

/** After the forward of [x; x]: LOGITS is the first copy's [B, C]; all 2B rows stay available to the loss. */
export function firstCopyLogits(g: Graph, b: Builder, B: number): void {
  const head = producers(g).get(LOGITS)!;
  head.outputs = head.outputs.map((o) => (o === LOGITS ? LOGITS_ALL : o));
  g.nodes.push({
    name: 'pace_first_copy',
    op: 'Slice',
    domain: '',
    inputs: [LOGITS_ALL, b.ints([0]), b.ints([B]), b.ints([0])],
    outputs: [LOGITS],
    attrs: {},
  });
}

/** PACE-fast's memory: the last logits of every training file, fed back as inputs with a mask of known rows. */
export class LogitHistory {
  private readonly last = new Map<string, Float32Array>();
  constructor(
    private readonly B: number,
    private readonly C: number,
  ) {}

  record(s: StepResult): void {
    for (let i = 0; i < s.count; i++) this.last.set(s.batchFiles[i], s.logits.slice(i * this.C, (i + 1) * this.C));
  }

  private feeds(files: string[]): { logits: Tensor; mask: Tensor } {
    const logits = tensor('float32', [this.B, this.C]);
    const mask = tensor('float32', [this.B, 1]);
    files.forEach((f, i) => {
      const h = this.last.get(f);
      if (!h || i >= this.B) return;
      (logits.data as Float32Array).set(h, i * this.C);
      (mask.data as Float32Array)[i] = 1;
    });
    return { logits, mask };
  }

  inputs(): ExtraInput[] {
    const { B, C } = this;
    return [
      {
        name: PREV_LOGITS,
        dtype: 'float32',
        shape: [B, C],
        neutral: () => tensor('float32', [B, C]),
        fill: (at) => this.feeds(at.batchFiles).logits,
      },
      {
        name: PREV_MASK,
        dtype: 'float32',
        shape: [B, 1],
        neutral: () => tensor('float32', [B, 1]),
        fill: (at) => this.feeds(at.batchFiles).mask,
      },
    ];
  }
}

/** λ · mean_b ‖f1 − f2‖² over the batch's real rows (TARGETS rows sum to 1 for real rows, 0 for padding). */
export function consistencyLoss(b: Builder, o: { lambda: number; B: number; fast: boolean }): string[] {
  const f2 = o.fast ? PREV_LOGITS : b.op('Slice', [LOGITS_ALL, b.ints([o.B]), b.ints([2 * o.B]), b.ints([0])]);
  const d = b.sub(LOGITS, f2);
  let rowsMask = b.reduceSum(TARGETS, [1], true); // [B, 1]
  if (o.fast) rowsMask = b.mul(rowsMask, PREV_MASK);
  const total = b.op('ReduceSum', [b.mul(b.mul(d, d), rowsMask)], { keepdims: int(0) });
  const term = b.mul(b.mul(total, INV_WEIGHT), b.scalar(o.lambda));
  b.g.nodes.push({
    name: 'pace_consistency_id',
    op: 'Identity',
    domain: '',
    inputs: [term],
    outputs: [PACE_CONSISTENCY],
    attrs: {},
  });
  return [PACE_CONSISTENCY];
}
