/**
 * Pillow's antialiased bilinear resize (`Image.resize(size, BILINEAR)`, which torchvision's
 * `Resize` calls on PIL images), reimplemented bit-for-bit: separable triangle filter whose support
 * grows with the shrink factor, 22-bit fixed-point weights, horizontal pass first, rounding to
 * 8 bit between passes. libvips' "linear" kernel differs enough to move ImageNet logits by ~0.4,
 * and matching PyTorch preprocessing exactly is part of the export contract.
 */
import type { FloatImage, RgbImage } from './pixels';

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  /** first input index per output */
  bounds: Int32Array;
  /** taps per output */
  counts: Int32Array;
  /** fixed-point weights, `ksize` per output */
  weights: Int32Array;
  ksize: number;
}

/** Pillow `precompute_coeffs` for the bilinear filter over the box [in0, in1) of the input. */
function precompute(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  return toFixedPoint(precomputeFloat(inSize, in0, in1, outSize));
}

interface FloatCoeffs {
  bounds: Int32Array;
  counts: Int32Array;
  /** normalised weights, `ksize` per output */
  weights: Float64Array;
  ksize: number;
}

/** The same taps with exact (float) weights: the float pipeline resizes without 8-bit rounding. */
function precomputeFloat(inSize: number, in0: number, in1: number, outSize: number): FloatCoeffs {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const ss = 1 / filterScale;
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) weights[xx * ksize + x] = ww !== 0 ? k[x] / ww : k[x];
    bounds[xx] = xmin;
    counts[xx] = xmax;
  }
  return { bounds, counts, weights, ksize };
}

function toFixedPoint(c: FloatCoeffs): Coeffs {
  const weights = new Int32Array(c.weights.length);
  for (let i = 0; i < weights.length; i++) {
    // Pillow: (int)(0.5 + w * (1 << PRECISION_BITS)) with sign handling
    const f = c.weights[i] * (1 << PRECISION_BITS);
    weights[i] = f < 0 ? Math.trunc(-0.5 + f) : Math.trunc(0.5 + f);
  }
  return { bounds: c.bounds, counts: c.counts, weights, ksize: c.ksize };
}

function clip8(v: number): number {
  // Pillow adds 1 << (PRECISION_BITS - 1) then shifts
  const x = Math.floor(v / (1 << PRECISION_BITS));
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/** Resizes interleaved RGB to `width`×`height` exactly like Pillow's BILINEAR. */
export function resizeBilinearPil(img: RgbImage, width: number, height: number): RgbImage {
  let cur = img;
  const half = 1 << (PRECISION_BITS - 1);
  if (width !== cur.width) {
    const c = precompute(cur.width, 0, cur.width, width);
    const out = new Uint8Array(width * cur.height * 3);
    const src = cur.data;
    for (let y = 0; y < cur.height; y++) {
      const row = y * cur.width * 3;
      for (let x = 0; x < width; x++) {
        const x0 = c.bounds[x];
        const n = c.counts[x];
        const wo = x * c.ksize;
        let r = half,
          g = half,
          b = half;
        for (let t = 0; t < n; t++) {
          const w = c.weights[wo + t];
          const s = row + (x0 + t) * 3;
          r += src[s] * w;
          g += src[s + 1] * w;
          b += src[s + 2] * w;
        }
        const o = (y * width + x) * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    cur = { data: out, width, height: cur.height };
  }
  if (height !== cur.height) {
    const c = precompute(cur.height, 0, cur.height, height);
    const W = cur.width;
    const out = new Uint8Array(W * height * 3);
    const src = cur.data;
    for (let y = 0; y < height; y++) {
      const y0 = c.bounds[y];
      const n = c.counts[y];
      const wo = y * c.ksize;
      for (let x = 0; x < W; x++) {
        let r = half,
          g = half,
          b = half;
        for (let t = 0; t < n; t++) {
          const w = c.weights[wo + t];
          const s = ((y0 + t) * W + x) * 3;
          r += src[s] * w;
          g += src[s + 1] * w;
          b += src[s + 2] * w;
        }
        const o = (y * W + x) * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    cur = { data: out, width: W, height };
  }
  return cur === img ? { data: img.data.slice(), width: img.width, height: img.height } : cur;
}

/** Copies a `width`×`height` window at (left, top). */
export function cropRgb(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

/** Places `img` at (left, top) on a `width`×`height` canvas filled with `fill`. */
export function padRgb(
  img: RgbImage,
  width: number,
  height: number,
  left: number,
  top: number,
  fill: [number, number, number],
): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    out[i * 3] = fill[0];
    out[i * 3 + 1] = fill[1];
    out[i * 3 + 2] = fill[2];
  }
  for (let y = 0; y < img.height; y++) {
    out.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((top + y) * width + left) * 3);
  }
  return { data: out, width, height };
}

/** Pillow's antialiased bilinear filter on float images of any channel count, without rounding between passes. */
export function resizeBilinearFloat(img: FloatImage, width: number, height: number): FloatImage {
  const C = img.channels;
  let cur = img;
  if (width !== cur.width) {
    const c = precomputeFloat(cur.width, 0, cur.width, width);
    const out = new Float32Array(width * cur.height * C);
    const src = cur.data;
    for (let y = 0; y < cur.height; y++) {
      const row = y * cur.width * C;
      for (let x = 0; x < width; x++) {
        const x0 = c.bounds[x];
        const n = c.counts[x];
        const wo = x * c.ksize;
        const o = (y * width + x) * C;
        for (let ch = 0; ch < C; ch++) {
          let acc = 0;
          for (let t = 0; t < n; t++) acc += src[row + (x0 + t) * C + ch] * c.weights[wo + t];
          out[o + ch] = acc;
        }
      }
    }
    cur = { data: out, width, height: cur.height, channels: C };
  }
  if (height !== cur.height) {
    const c = precomputeFloat(cur.height, 0, cur.height, height);
    const rowLen = cur.width * C;
    const out = new Float32Array(rowLen * height);
    const src = cur.data;
    for (let y = 0; y < height; y++) {
      const y0 = c.bounds[y];
      const n = c.counts[y];
      const wo = y * c.ksize;
      const o = y * rowLen;
      for (let t = 0; t < n; t++) {
        const w = c.weights[wo + t];
        const s = (y0 + t) * rowLen;
        for (let i = 0; i < rowLen; i++) out[o + i] += src[s + i] * w;
      }
    }
    cur = { data: out, width: cur.width, height, channels: C };
  }
  return cur === img ? { ...img, data: img.data.slice() } : cur;
}

/** Copies a `width`×`height` window at (left, top) of a float image. */
export function cropFloat(img: FloatImage, left: number, top: number, width: number, height: number): FloatImage {
  const C = img.channels;
  const out = new Float32Array(width * height * C);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * C;
    out.set(img.data.subarray(s, s + width * C), y * width * C);
  }
  return { data: out, width, height, channels: C };
}

/** Places a float image at (left, top) on a canvas filled with `fill` (one value per channel). */
export function padFloat(
  img: FloatImage,
  width: number,
  height: number,
  left: number,
  top: number,
  fill: number[],
): FloatImage {
  const C = img.channels;
  const out = new Float32Array(width * height * C);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < C; c++) out[i * C + c] = fill[c] ?? 0;
  for (let y = 0; y < img.height; y++) {
    out.set(img.data.subarray(y * img.width * C, (y + 1) * img.width * C), ((top + y) * width + left) * C);
  }
  return { data: out, width, height, channels: C };
}
