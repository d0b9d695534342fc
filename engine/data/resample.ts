/**
 * Pillow's antialiased bilinear resize (`Image.resize(size, BILINEAR)`, which torchvision's
 * `Resize` calls on PIL images), reimplemented bit-for-bit: separable triangle filter whose support
 * grows with the shrink factor, 22-bit fixed-point weights, horizontal pass first, rounding to
 * 8 bit between passes. libvips' "linear" kernel differs enough to move ImageNet logits by ~0.4,
 * and matching PyTorch preprocessing exactly is part of the export contract.
 */
import type { RgbImage } from './decode';

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
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
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
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      // Pillow: (int)(0.5 + w * (1 << PRECISION_BITS)) with sign handling
      const f = w * (1 << PRECISION_BITS);
      weights[xx * ksize + x] = f < 0 ? Math.trunc(-0.5 + f) : Math.trunc(0.5 + f);
    }
    bounds[xx] = xmin;
    counts[xx] = xmax;
  }
  return { bounds, counts, weights, ksize };
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
        let r = half, g = half, b = half;
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
        let r = half, g = half, b = half;
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
export function padRgb(img: RgbImage, width: number, height: number, left: number, top: number, fill: [number, number, number]): RgbImage {
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
