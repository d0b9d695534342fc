/**
 * Training augmentations, computed in JS from a cached base image so that the result depends only
 * on the random stream (seed, epoch, item, view), never on decode order or thread scheduling.
 * Geometry is one affine map per image (crop box, rotation, flips) applied by a single bilinear
 * pass; colour jitter follows torchvision's ColorJitter (random order of the four adjustments).
 */
import type { Preprocessing } from '../preprocessing';
import { isFloatImage, type FloatImage, type PixelImage, type RgbImage } from './pixels';
import { channelNormalisation } from './normalise';

export type AugmentPreset = 'none' | 'natural' | 'aerial' | 'medical';

export interface AugmentOptions {
  preset: AugmentPreset;
  /** probability of converting a view to grey (SimCLR/GPS-style views use p = 0.2); default 0 */
  grayscale?: number;
  /** probability of applying colour jitter (natural, aerial); default 0.8 */
  colorJitterProbability?: number;
}

export function normaliseAugment(a: AugmentPreset | AugmentOptions | undefined): Required<AugmentOptions> {
  const o: AugmentOptions = typeof a === 'string' ? { preset: a } : (a ?? { preset: 'none' });
  return { preset: o.preset, grayscale: o.grayscale ?? 0, colorJitterProbability: o.colorJitterProbability ?? 0.8 };
}

/** Where an output view comes from, in base-image pixels. */
export interface ViewGeometry {
  /** centre of the sampled box */
  cx: number;
  cy: number;
  /** box width and height before rotation */
  bw: number;
  bh: number;
  /** rotation in radians (box rotated about its centre) */
  angle: number;
  hflip: boolean;
  vflip: boolean;
  /** quarter turns */
  rot90: number;
  /** RGB bytes for samples outside the base image */
  fill: [number, number, number];
}

const RRC_SCALE: [number, number] = [0.08, 1];
const RRC_RATIO: [number, number] = [3 / 4, 4 / 3];

/** torchvision RandomResizedCrop.get_params, on the base image. */
function randomResizedCrop(
  W: number,
  H: number,
  rng: () => number,
): { cx: number; cy: number; bw: number; bh: number } {
  const area = W * H;
  const logR = [Math.log(RRC_RATIO[0]), Math.log(RRC_RATIO[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (RRC_SCALE[0] + (RRC_SCALE[1] - RRC_SCALE[0]) * rng());
    const aspect = Math.exp(logR[0] + (logR[1] - logR[0]) * rng());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const top = Math.floor(rng() * (H - h + 1));
      const left = Math.floor(rng() * (W - w + 1));
      return { cx: left + w / 2, cy: top + h / 2, bw: w, bh: h };
    }
  }
  const inRatio = W / H;
  let w = W;
  let h = H;
  if (inRatio < RRC_RATIO[0]) h = Math.round(W / RRC_RATIO[0]);
  else if (inRatio > RRC_RATIO[1]) w = Math.round(H * RRC_RATIO[1]);
  return { cx: W / 2, cy: H / 2, bw: w, bh: h };
}

/** The evaluation view's box in base coordinates (matches decodeEvalRgb up to resampling). */
export function evalGeometry(base: { width: number; height: number }, pre: Preprocessing): ViewGeometry {
  const W = base.width;
  const H = base.height;
  const black: [number, number, number] = [0, 0, 0];
  if (pre.resize === 'squash')
    return { cx: W / 2, cy: H / 2, bw: W, bh: H, angle: 0, hflip: false, vflip: false, rot90: 0, fill: black };
  if (pre.resize === 'pad') {
    const side = Math.max(W, H);
    const mean: [number, number, number] = [
      Math.round(pre.mean[0] * 255),
      Math.round(pre.mean[1] * 255),
      Math.round(pre.mean[2] * 255),
    ];
    return { cx: W / 2, cy: H / 2, bw: side, bh: side, angle: 0, hflip: false, vflip: false, rot90: 0, fill: mean };
  }
  // the centre crop covers size/resizeTo of the shorter side
  const side = (Math.min(W, H) * pre.size) / Math.max(pre.resizeTo, pre.size);
  return { cx: W / 2, cy: H / 2, bw: side, bh: side, angle: 0, hflip: false, vflip: false, rot90: 0, fill: black };
}

/** Draws a random view geometry. The number and order of rng calls is fixed per preset. */
export function sampleGeometry(
  base: { width: number; height: number },
  pre: Preprocessing,
  preset: AugmentPreset,
  rng: () => number,
): ViewGeometry {
  if (preset === 'none') return evalGeometry(base, pre);
  if (preset === 'medical') {
    // mild: ±10° rotation, 0.9–1.1 zoom about the evaluation view, horizontal flip
    const g = evalGeometry(base, pre);
    const angle = ((rng() * 2 - 1) * 10 * Math.PI) / 180;
    const zoom = 0.9 + 0.2 * rng();
    const hflip = rng() < 0.5;
    return { ...g, bw: g.bw / zoom, bh: g.bh / zoom, angle, hflip };
  }
  const box = randomResizedCrop(base.width, base.height, rng);
  const hflip = rng() < 0.5;
  let vflip = false;
  let rot90 = 0;
  if (preset === 'aerial') {
    vflip = rng() < 0.5;
    rot90 = Math.floor(rng() * 4);
  }
  return { ...box, angle: 0, hflip, vflip, rot90, fill: [0, 0, 0] };
}

/**
 * The view's output pixel → source coordinate map, which is affine: its value at pixel (0, 0) and its steps per
 * output column (dxx, dyx) and row (dxy, dyy). Source pixel i spans [i, i+1]; the −½ puts samples on the pixel grid.
 */
function viewAffine(
  g: ViewGeometry,
  S: number,
): { x0: number; y0: number; dxx: number; dyx: number; dxy: number; dyy: number } {
  // output normalised coords (u, v) ∈ [−½, ½]² → flips → quarter turns → scale → rotate → translate
  const map = (ox: number, oy: number): [number, number] => {
    let u = (ox + 0.5) / S - 0.5;
    let v = (oy + 0.5) / S - 0.5;
    if (g.hflip) u = -u;
    if (g.vflip) v = -v;
    for (let k = 0; k < (g.rot90 & 3); k++) {
      const t = u;
      u = -v;
      v = t;
    }
    const px = u * g.bw;
    const py = v * g.bh;
    const c = Math.cos(g.angle);
    const s = Math.sin(g.angle);
    return [g.cx + px * c - py * s - 0.5, g.cy + px * s + py * c - 0.5];
  };
  const [x0, y0] = map(0, 0);
  const [x1, y1] = map(1, 0);
  const [x2, y2] = map(0, 1);
  return { x0, y0, dxx: x1 - x0, dyx: y1 - y0, dxy: x2 - x0, dyy: y2 - y0 };
}

/** Renders a view into planar RGB floats in [0, 1] (`out` has 3·S·S entries). Bilinear. */
export function renderView(base: RgbImage, g: ViewGeometry, S: number, out: Float32Array): void {
  const { x0, y0, dxx, dyx, dxy, dyy } = viewAffine(g, S);
  const W = base.width;
  const H = base.height;
  const src = base.data;
  const plane = S * S;
  const inv = 1 / 255;
  const [fr, fg, fb] = g.fill;
  const axisAligned =
    g.angle === 0 &&
    ((Math.abs(dxy) < 1e-12 && Math.abs(dyx) < 1e-12) || (Math.abs(dxx) < 1e-12 && Math.abs(dyy) < 1e-12));
  if (axisAligned) {
    // separable fast path (crops, flips, quarter turns): per-row and per-column taps computed once
    const swap = Math.abs(dxx) < 1e-12;
    const colX = swap ? null : taps(x0, dxx, S, W);
    const colY = swap ? taps(y0, dyx, S, H) : null;
    const rowY = swap ? null : taps(y0, dyy, S, H);
    const rowX = swap ? taps(x0, dxy, S, W) : null;
    // tx is indexed by ix, ty by iy; for quarter turns the output axes swap roles
    const tx = swap ? rowX! : colX!;
    const ty = swap ? colY! : rowY!;
    for (let oy = 0; oy < S; oy++) {
      let o = oy * S;
      for (let ox = 0; ox < S; ox++, o++) {
        const ix = swap ? oy : ox;
        const iy = swap ? ox : oy;
        const ax = tx.w[ix];
        const ay = ty.w[iy];
        if (ax < 0 || ay < 0) {
          out[o] = fr * inv;
          out[o + plane] = fg * inv;
          out[o + 2 * plane] = fb * inv;
          continue;
        }
        const r0 = ty.i0[iy] * W,
          r1 = ty.i1[iy] * W;
        const c0 = tx.i0[ix],
          c1 = tx.i1[ix];
        const i00 = (r0 + c0) * 3,
          i01 = (r0 + c1) * 3,
          i10 = (r1 + c0) * 3,
          i11 = (r1 + c1) * 3;
        const w00 = (1 - ax) * (1 - ay) * inv,
          w01 = ax * (1 - ay) * inv,
          w10 = (1 - ax) * ay * inv,
          w11 = ax * ay * inv;
        out[o] = src[i00] * w00 + src[i01] * w01 + src[i10] * w10 + src[i11] * w11;
        out[o + plane] = src[i00 + 1] * w00 + src[i01 + 1] * w01 + src[i10 + 1] * w10 + src[i11 + 1] * w11;
        out[o + 2 * plane] = src[i00 + 2] * w00 + src[i01 + 2] * w01 + src[i10 + 2] * w10 + src[i11 + 2] * w11;
      }
    }
    return;
  }
  for (let oy = 0; oy < S; oy++) {
    let x = x0 + oy * dxy;
    let y = y0 + oy * dyy;
    let o = oy * S;
    for (let ox = 0; ox < S; ox++, x += dxx, y += dyx, o++) {
      if (x < -0.5 || y < -0.5 || x > W - 0.5 || y > H - 0.5) {
        out[o] = fr * inv;
        out[o + plane] = fg * inv;
        out[o + 2 * plane] = fb * inv;
        continue;
      }
      const xc = x < 0 ? 0 : x > W - 1 ? W - 1 : x;
      const yc = y < 0 ? 0 : y > H - 1 ? H - 1 : y;
      const xi = Math.floor(xc);
      const yi = Math.floor(yc);
      const ax = xc - xi;
      const ay = yc - yi;
      const xj = xi + 1 < W ? xi + 1 : xi;
      const yj = yi + 1 < H ? yi + 1 : yi;
      const i00 = (yi * W + xi) * 3,
        i01 = (yi * W + xj) * 3,
        i10 = (yj * W + xi) * 3,
        i11 = (yj * W + xj) * 3;
      const w00 = (1 - ax) * (1 - ay) * inv,
        w01 = ax * (1 - ay) * inv,
        w10 = (1 - ax) * ay * inv,
        w11 = ax * ay * inv;
      out[o] = src[i00] * w00 + src[i01] * w01 + src[i10] * w10 + src[i11] * w11;
      out[o + plane] = src[i00 + 1] * w00 + src[i01 + 1] * w01 + src[i10 + 1] * w10 + src[i11 + 1] * w11;
      out[o + 2 * plane] = src[i00 + 2] * w00 + src[i01 + 2] * w01 + src[i10 + 2] * w10 + src[i11 + 2] * w11;
    }
  }
}

/**
 * `renderView` for float images of any channel count (values already in model units, so no 1/255);
 * outside samples take `fill`/255 on RGB and 0 (the standardised mean) on multispectral bands.
 */
export function renderViewFloat(base: FloatImage, g: ViewGeometry, S: number, out: Float32Array): void {
  const C = base.channels;
  const W = base.width;
  const H = base.height;
  const src = base.data;
  const plane = S * S;
  const fill = Array.from({ length: C }, (_, c) => (C === 3 ? g.fill[c] / 255 : 0));
  // the same affine map as renderView, stepped incrementally per output pixel
  const { x0, y0, dxx, dyx, dxy, dyy } = viewAffine(g, S);
  for (let oy = 0; oy < S; oy++) {
    let x = x0 + oy * dxy;
    let y = y0 + oy * dyy;
    let o = oy * S;
    for (let ox = 0; ox < S; ox++, x += dxx, y += dyx, o++) {
      if (x < -0.5 || y < -0.5 || x > W - 0.5 || y > H - 0.5) {
        for (let ch = 0; ch < C; ch++) out[o + ch * plane] = fill[ch];
        continue;
      }
      const xc = x < 0 ? 0 : x > W - 1 ? W - 1 : x;
      const yc = y < 0 ? 0 : y > H - 1 ? H - 1 : y;
      const xi = Math.floor(xc);
      const yi = Math.floor(yc);
      const ax = xc - xi;
      const ay = yc - yi;
      const xj = xi + 1 < W ? xi + 1 : xi;
      const yj = yi + 1 < H ? yi + 1 : yi;
      const i00 = (yi * W + xi) * C,
        i01 = (yi * W + xj) * C,
        i10 = (yj * W + xi) * C,
        i11 = (yj * W + xj) * C;
      const w00 = (1 - ax) * (1 - ay),
        w01 = ax * (1 - ay),
        w10 = (1 - ax) * ay,
        w11 = ax * ay;
      if (C === 3) {
        out[o] = src[i00] * w00 + src[i01] * w01 + src[i10] * w10 + src[i11] * w11;
        out[o + plane] = src[i00 + 1] * w00 + src[i01 + 1] * w01 + src[i10 + 1] * w10 + src[i11 + 1] * w11;
        out[o + 2 * plane] = src[i00 + 2] * w00 + src[i01 + 2] * w01 + src[i10 + 2] * w10 + src[i11 + 2] * w11;
      } else {
        for (let ch = 0; ch < C; ch++) {
          out[o + ch * plane] = src[i00 + ch] * w00 + src[i01 + ch] * w01 + src[i10 + ch] * w10 + src[i11 + ch] * w11;
        }
      }
    }
  }
}

/** Bilinear taps along one axis at coordinates start + k·step, k < n, in a source of length len. Weight −1: outside. */
function taps(
  start: number,
  step: number,
  n: number,
  len: number,
): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const w = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const c = start + k * step;
    if (c < -0.5 || c > len - 0.5) {
      w[k] = -1;
      continue;
    }
    const cc = c < 0 ? 0 : c > len - 1 ? len - 1 : c;
    const f = Math.floor(cc);
    i0[k] = f;
    i1[k] = f + 1 < len ? f + 1 : f;
    w[k] = cc - f;
  }
  return { i0, i1, w };
}

const GREY = [0.2989, 0.587, 0.114];

export interface ColourParams {
  /** order of brightness(0), contrast(1), saturation(2), hue(3) */
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/** torchvision ColorJitter(0.4, 0.4, 0.4, 0.1).get_params. */
export function sampleColour(rng: () => number): ColourParams {
  const order = [0, 1, 2, 3];
  for (let i = 3; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return {
    order,
    brightness: 0.6 + 0.8 * rng(),
    contrast: 0.6 + 0.8 * rng(),
    saturation: 0.6 + 0.8 * rng(),
    hue: -0.1 + 0.2 * rng(),
  };
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Applies colour jitter to planar RGB in [0, 1], in place. */
export function applyColour(img: Float32Array, n: number, p: ColourParams): void {
  for (const op of p.order) {
    if (op === 0) {
      for (let i = 0; i < 3 * n; i++) img[i] = clamp01(img[i] * p.brightness);
    } else if (op === 1) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += GREY[0] * img[i] + GREY[1] * img[i + n] + GREY[2] * img[i + 2 * n];
      const mean = sum / n;
      const k = 1 - p.contrast;
      for (let i = 0; i < 3 * n; i++) img[i] = clamp01(img[i] * p.contrast + k * mean);
    } else if (op === 2) {
      const k = 1 - p.saturation;
      for (let i = 0; i < n; i++) {
        const g = GREY[0] * img[i] + GREY[1] * img[i + n] + GREY[2] * img[i + 2 * n];
        img[i] = clamp01(img[i] * p.saturation + k * g);
        img[i + n] = clamp01(img[i + n] * p.saturation + k * g);
        img[i + 2 * n] = clamp01(img[i + 2 * n] * p.saturation + k * g);
      }
    } else {
      shiftHue(img, n, p.hue);
    }
  }
}

/** HSV hue rotation by `h` turns, per pixel. */
function shiftHue(img: Float32Array, n: number, h: number): void {
  for (let i = 0; i < n; i++) {
    const r = img[i],
      g = img[i + n],
      b = img[i + 2 * n];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const d = max - min;
    if (d === 0) continue; // grey pixel: hue undefined, unchanged
    let hue: number;
    if (max === r) hue = ((g - b) / d) % 6;
    else if (max === g) hue = (b - r) / d + 2;
    else hue = (r - g) / d + 4;
    hue = hue / 6 + h;
    hue -= Math.floor(hue);
    const s = d / max;
    const v = max;
    const hh = hue * 6;
    const sector = Math.floor(hh) % 6;
    const f = hh - Math.floor(hh);
    const p = v * (1 - s),
      q = v * (1 - s * f),
      t = v * (1 - s * (1 - f));
    let rr: number, gg: number, bb: number;
    switch (sector) {
      case 0:
        rr = v;
        gg = t;
        bb = p;
        break;
      case 1:
        rr = q;
        gg = v;
        bb = p;
        break;
      case 2:
        rr = p;
        gg = v;
        bb = t;
        break;
      case 3:
        rr = p;
        gg = q;
        bb = v;
        break;
      case 4:
        rr = t;
        gg = p;
        bb = v;
        break;
      default:
        rr = v;
        gg = p;
        bb = q;
    }
    img[i] = rr;
    img[i + n] = gg;
    img[i + 2 * n] = bb;
  }
}

function toGrey(img: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = GREY[0] * img[i] + GREY[1] * img[i + n] + GREY[2] * img[i + 2 * n];
    img[i] = img[i + n] = img[i + 2 * n] = g;
  }
}

/**
 * One augmented view as a normalised CHW tensor, written at `out[offset…]` (allocated if absent).
 * rng call order: geometry, then colour-jitter gate and parameters, then the grey gate.
 */
export function augmentToTensor(
  base: PixelImage,
  pre: Preprocessing,
  aug: Required<AugmentOptions>,
  rng: () => number,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const S = pre.size;
  const n = S * S;
  const C = isFloatImage(base) ? base.channels : 3;
  const dst = out ?? new Float32Array(C * n);
  const img = new Float32Array(C * n);
  const g = sampleGeometry(base, pre, aug.preset, rng);
  if (isFloatImage(base)) renderViewFloat(base, g, S, img);
  else renderView(base, g, S, img);
  // colour jitter and greyscale are RGB operations; multispectral bands get geometry only
  if (C === 3 && (aug.preset === 'natural' || aug.preset === 'aerial')) {
    const apply = rng() < aug.colorJitterProbability;
    const params = sampleColour(rng); // drawn either way so later draws do not shift
    if (apply) applyColour(img, n, params);
  }
  if (C === 3 && aug.grayscale > 0 && rng() < aug.grayscale) toGrey(img, n);
  if (C === 3) {
    for (let c = 0; c < 3; c++) {
      const a = 1 / pre.std[c];
      const b = -pre.mean[c] / pre.std[c];
      const o = offset + c * n;
      for (let i = 0; i < n; i++) dst[o + i] = img[c * n + i] * a + b;
    }
    return dst;
  }
  const { a, b } = channelNormalisation(pre, C);
  for (let c = 0; c < C; c++) {
    const o = offset + c * n;
    for (let i = 0; i < n; i++) dst[o + i] = img[c * n + i] * a[c] + b[c];
  }
  return dst;
}
