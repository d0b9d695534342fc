/**
 * The value mapping of the preprocessing contract, in float: stored samples of images deeper than
 * 8 bits (after the DICOM modality LUT, or minus the PNG/TIFF offset) → [0, 1] by the VOI rule,
 * then MONOCHROME1 inversion. Nothing here rounds to 8 bits.
 */
import type { VoiRule } from '../preprocessing';
import type { FloatImage } from './pixels';

/** Percentiles (in %) of the finite samples, by sorting a copy (exact, ~20 ms for a 512×512 slice). */
export function percentileRange(samples: Float32Array, lowPct: number, highPct: number): [number, number] {
  let n = 0;
  const finite = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) if (Number.isFinite(samples[i])) finite[n++] = samples[i];
  if (n === 0) return [0, 0];
  const s = finite.subarray(0, n).sort();
  const at = (p: number) => s[Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))))];
  return [at(lowPct), at(highPct)];
}

/**
 * DICOM PS3.3 C.11.2.1.2.1 linear VOI function onto [0, 1]: x ≤ c − ½ − (w−1)/2 → 0,
 * x > c − ½ + (w−1)/2 → 1, else ((x − (c − ½)) / (w − 1) + ½). Width below 1 is treated as 1.
 */
export function windowValue(x: number, center: number, width: number): number {
  const w = Math.max(1, width);
  if (w === 1) return x < center - 0.5 ? 0 : 1; // the formula degenerates; a threshold is what it tends to
  const y = (x - (center - 0.5)) / (w - 1) + 0.5;
  return y <= 0 ? 0 : y >= 1 ? 1 : y;
}

export interface VoiContext {
  /** the file's first WindowCenter/Width (DICOM), when it has one */
  fileWindow?: { center: number; width: number };
  /** MONOCHROME1: invert after the window */
  invert?: boolean;
  /** for 'full-range': the range of storable values ([0, 65535] for 16-bit, shifted by any offset) */
  minValue?: number;
  maxValue?: number;
}

/** The window [lo, hi] a rule picks for an image, as centre/width of the linear function. */
export function voiWindow(
  samples: Float32Array,
  rule: VoiRule,
  ctx: VoiContext,
): { center: number; width: number } | { lo: number; hi: number } {
  if (rule.kind === 'window') return { center: rule.center, width: rule.width };
  if (rule.kind === 'file' && ctx.fileWindow && ctx.fileWindow.width > 0) return ctx.fileWindow;
  if (rule.kind === 'full-range') return { lo: ctx.minValue ?? 0, hi: ctx.maxValue ?? 65535 };
  if (rule.kind === 'percentile' && rule.fitted) return rule.fitted;
  const [lo, hi] =
    rule.kind === 'percentile' ? percentileRange(samples, rule.low, rule.high) : percentileRange(samples, 0.5, 99.5);
  return { lo, hi };
}

/** Applies a VOI rule to every sample (all channels share one window, so colour balance is kept). NaN → 0. */
export function applyVoi(img: FloatImage, rule: VoiRule, ctx: VoiContext = {}): FloatImage {
  const src = img.data;
  const out = new Float32Array(src.length);
  const win = voiWindow(src, rule, ctx);
  if ('center' in win) {
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      out[i] = v === v ? windowValue(v, win.center, win.width) : 0;
    }
  } else {
    const k = win.hi > win.lo ? 1 / (win.hi - win.lo) : 0;
    for (let i = 0; i < src.length; i++) {
      const v = (src[i] - win.lo) * k;
      out[i] = v > 0 ? (v < 1 ? v : 1) : 0; // NaN fails both tests → 0
    }
  }
  // padding (NaN) stays 0, i.e. black, also in inverted images
  if (ctx.invert) for (let i = 0; i < out.length; i++) out[i] = src[i] === src[i] ? 1 - out[i] : 0;
  return { data: out, width: img.width, height: img.height, channels: img.channels };
}
