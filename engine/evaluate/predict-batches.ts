/** Runs a compiled eval program over batches of images: the predictions that every evaluation is computed from. */
import { tensor, type Tensor } from '../ir/tensor';
import type { LoaderBatch } from '../data/loader';
import { PROBS, type EvalProgram } from '../programs/compile';
import { LOGITS } from '../backbone/prepare';
import type { Session } from '../runtime/session';

/** Pads a batch to the compiled batch size; padded rows get weight 0. */
export function padBatch(
  bt: LoaderBatch,
  B: number,
  rowSize: number,
): { x: Float32Array; labels: Int32Array; weights: Float32Array } {
  const x = bt.x.length === B * rowSize ? bt.x : new Float32Array(B * rowSize);
  if (x !== bt.x) x.set(bt.x.subarray(0, bt.count * rowSize));
  const labels = new Int32Array(B);
  labels.set(bt.labels.subarray(0, bt.count));
  const weights = new Float32Array(B);
  weights.fill(1, 0, bt.count);
  return { x, labels, weights };
}

export interface Predictions {
  probs: Float32Array;
  /** the head's logits (before softmax): what temperature scaling is fitted on */
  logits: Float32Array;
  labels: number[];
  files: string[];
}

/** Runs the eval program over batches; returns probabilities and logits [n, C] in order. */
export async function predictBatches(
  session: Session,
  program: EvalProgram,
  params: Map<string, Tensor>,
  batches: AsyncIterable<LoaderBatch>,
  rowDims: number[],
  C: number,
): Promise<Predictions> {
  const rowSize = rowDims.reduce((a, b) => a * b, 1);
  const probs: number[] = [];
  const logits: number[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for await (const bt of batches) {
    const { x } = padBatch(bt, program.batch, rowSize);
    const feeds: Record<string, Tensor> = { [program.imageInput]: tensor('float32', [program.batch, ...rowDims], x) };
    for (const k of program.trainable) feeds[k] = params.get(k)!;
    const out = await session.run(feeds, [PROBS, LOGITS]);
    const p = out[PROBS].data as Float32Array;
    const z = out[LOGITS].data as Float32Array;
    for (let i = 0; i < bt.count * C; i++) {
      probs.push(p[i]);
      logits.push(z[i]);
    }
    labels.push(...bt.labels.subarray(0, bt.count));
    files.push(...bt.files.slice(0, bt.count));
  }
  return { probs: Float32Array.from(probs), logits: Float32Array.from(logits), labels, files };
}
