/**
 * Temperature scaling (Guo et al., 2017): one parameter T > 0, fitted on the validation split by minimising
 * the negative log-likelihood of softmax(logits / T). It changes confidences, never the predicted class.
 */

import type { CalibrationBin } from './metrics';

/** Mean NLL of softmax(logits / T) against the labels; logits row-major [n, C]. */
export function temperedNll(logits: ArrayLike<number>, labels: ArrayLike<number>, C: number, T: number): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[i * C + c] / T);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[i * C + c] / T - max);
    total += max + Math.log(sum) - logits[i * C + labels[i]] / T;
  }
  return n ? total / n : 0;
}

/** softmax(logits / T), row-major [n, C], as float32 like the exported graph computes it. */
export function temperedSoftmax(logits: ArrayLike<number>, C: number, T: number): Float32Array {
  const n = logits.length / C;
  const out = new Float32Array(logits.length);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[i * C + c] / T);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += out[i * C + c] = Math.exp(logits[i * C + c] / T - max);
    for (let c = 0; c < C; c++) out[i * C + c] /= sum;
  }
  return out;
}

export interface TemperatureFit {
  temperature: number;
  /** NLL on the fitting split before (T = 1) and after */
  nllBefore: number;
  nllAfter: number;
  split: string;
  count: number;
}

/**
 * Golden-section search over log T in [log 0.05, log 20]: the NLL is smooth and unimodal in log T for
 * one parameter, so this finds the minimum to ~1e-6 without gradients.
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  C: number,
  split = 'val',
): TemperatureFit {
  const f = (u: number) => temperedNll(logits, labels, C, Math.exp(u));
  let a = Math.log(0.05);
  let b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a);
  let x2 = a + g * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  while (b - a > 1e-6) {
    if (f1 < f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - g * (b - a);
      f1 = f(x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + g * (b - a);
      f2 = f(x2);
    }
  }
  const u = (a + b) / 2;
  const nllBefore = f(0);
  const nllAfter = f(u);
  // no held-out labels, or no gain: keep T = 1 rather than fit noise
  const temperature = labels.length && nllAfter < nllBefore ? Math.exp(u) : 1;
  return { temperature, nllBefore, nllAfter: Math.min(nllAfter, nllBefore), split, count: labels.length };
}

/** Temperature scaling fitted on val, and what it did to calibration on test (before = T 1). */
export interface CalibrationSummary extends TemperatureFit {
  test?: {
    eceBefore: number;
    eceAfter: number;
    reliabilityBefore: CalibrationBin[];
    reliabilityAfter: CalibrationBin[];
  };
}
