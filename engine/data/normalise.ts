import type { Preprocessing } from '../preprocessing';

/**
 * Per-channel normalisation of model values, as x·a + b: (x − mean)/std on RGB; standardised
 * multispectral bands ('all' mode) are already zero-mean, unit-variance and pass through.
 */
export function channelNormalisation(pre: Preprocessing, channels: number): { a: number[]; b: number[] } {
  if (channels !== 3) return { a: new Array<number>(channels).fill(1), b: new Array<number>(channels).fill(0) };
  return { a: pre.std.map((s) => 1 / s), b: pre.mean.map((m, c) => -m / pre.std[c]) };
}
