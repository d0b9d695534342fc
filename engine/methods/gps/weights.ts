/** GPS's trained form of a weight matrix (W0 + scatter(idx, δ)) and its merge: shared by the method and its patch. */
import type { Tensor } from '../../ir/tensor';
import { flatIndex, type WeightMatrix } from '../layers';
import type { MethodState } from '../method';

export const gpsDelta = (w: string) => `${w}::gps_delta`;

export interface GpsMatrix extends WeightMatrix {
  /** [rows, K] selected column indices, row-major, in rank order */
  idx: number[];
}

export interface GpsState extends MethodState {
  k: number;
  tau: number;
  matrices: GpsMatrix[];
  /** selected entries per block ("block 3", or "outside blocks" for the patch embedding) */
  blockCounts: Record<string, number>;
  selected: number;
  totalWeights: number;
}

/** Dense merged weight: W0 with the selected entries replaced by W0 + δ (float32, as the graph computes it). */
export function mergeGpsWeight(w0: Tensor, m: GpsMatrix, K: number, delta: Tensor): Tensor {
  const out = new Float32Array(w0.data as Float32Array);
  const d = delta.data as Float32Array;
  for (let r = 0; r < m.rows; r++)
    for (let j = 0; j < K; j++) {
      const at = flatIndex(m, r, m.idx[r * K + j]);
      out[at] = Math.fround(out[at] + d[r * K + j]);
    }
  return { dtype: 'float32', dims: [...w0.dims], data: out };
}
