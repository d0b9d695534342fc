/** How many parameters a graph holds: the one count behind the model check and the methods' trainable share. */
import type { Graph } from './graph';
import { isFloat } from './tensor';

/** Elements of every float initializer of rank ≥ 1 (scalars are constants, not parameters), head included. */
export function parameterCount(g: Graph): number {
  let n = 0;
  for (const t of g.initializers.values()) if (isFloat(t.dtype) && t.dims.length > 0) n += t.data.length;
  return n;
}
