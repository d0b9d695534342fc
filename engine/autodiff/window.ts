/**
 * Sliding-window index tables (im2col and its transpose) for pooling gradients, built at compile
 * time from static shapes. Everything is a Gather with a constant index table, so it runs on any
 * provider and any float type; a spare "fill" slot stands for padding taps.
 */
import type { Builder } from '../ir/builder';
import { int } from '../ir/graph';
import { sizeOf, tensor } from '../ir/tensor';

export interface WindowGeometry {
  /** spatial dims of the windowed tensor */
  inDims: number[];
  /** spatial dims of the result (one window per position) */
  outDims: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...] as in ONNX */
  pads: number[];
}

/** Multi-indices of a row-major box, in order. */
function* box(dims: number[]): Generator<number[]> {
  const idx = new Array<number>(dims.length).fill(0);
  const total = sizeOf(dims);
  for (let n = 0; n < total; n++) {
    yield idx;
    for (let i = dims.length - 1; i >= 0; i--) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
}

export interface WindowTable {
  /** [P_out·K]: flattened input position read by (output position, tap), or −1 in the padding */
  taps: Int32Array;
  /** per output position: taps inside the input */
  valid: Int32Array;
  /** per output position: taps inside the padded input (AveragePool count_include_pad) */
  inPadded: Int32Array;
  pIn: number;
  pOut: number;
  k: number;
}

export function windowTable(geo: WindowGeometry): WindowTable {
  const sp = geo.inDims.length;
  const pIn = sizeOf(geo.inDims);
  const pOut = sizeOf(geo.outDims);
  const k = sizeOf(geo.kernel);
  const taps = new Int32Array(pOut * k);
  const valid = new Int32Array(pOut);
  const inPadded = new Int32Array(pOut);
  let o = 0;
  for (const out of box(geo.outDims)) {
    let t = 0;
    for (const tap of box(geo.kernel)) {
      let flat = 0;
      let inside = true;
      let padded = true;
      for (let i = 0; i < sp; i++) {
        const pos = out[i] * geo.strides[i] + tap[i] * geo.dilations[i] - geo.pads[i];
        if (pos < 0 || pos >= geo.inDims[i]) inside = false;
        if (pos < -geo.pads[i] || pos >= geo.inDims[i] + geo.pads[i + sp]) padded = false;
        flat = flat * geo.inDims[i] + pos;
      }
      taps[o * k + t] = inside ? flat : -1;
      if (inside) valid[o]++;
      if (padded) inPadded[o]++;
      t++;
    }
    o++;
  }
  return { taps, valid, inPadded, pIn, pOut, k };
}

/** `x` [...lead, P] with one extra slot holding `fill` appended: [...lead, P+1]. */
function withSlot(b: Builder, x: string, lead: number[], p: number, fill: number): string {
  const flat = b.reshape(x, [...lead, p]);
  const slot = b.constant(tensor(b.floatType, [...lead, 1], new Array<number>(sizeOf(lead)).fill(fill)), 'slot');
  return b.op('Concat', [flat, slot], { axis: int(lead.length) });
}

/** im2col: `x` [...lead, *inDims] → [...lead, P_out, K]; padding taps read `fill` (0, or −∞ for max). */
export function im2col(b: Builder, x: string, lead: number[], t: WindowTable, fill: number): string {
  const src = withSlot(b, x, lead, t.pIn, fill);
  const idx = Array.from(t.taps, (v) => (v < 0 ? t.pIn : v));
  return b.op('Gather', [src, b.constant(tensor('int64', [t.pOut, t.k], idx), 'im2col')], { axis: int(lead.length) });
}

/**
 * The transpose of im2col: sums window values back onto the input positions they came from.
 * `cols` is [...lead, P_out, K] (`perTap`) or [...lead, P_out] (one value per window, added to
 * each of its taps). Returns [...lead, P_in]. Each input position gathers its (≤ T) contributors.
 */
export function col2im(b: Builder, cols: string, lead: number[], t: WindowTable, perTap: boolean): string {
  const n = perTap ? t.pOut * t.k : t.pOut;
  const lists: number[][] = Array.from({ length: t.pIn }, () => []);
  t.taps.forEach((p, j) => {
    if (p >= 0) lists[p].push(perTap ? j : Math.floor(j / t.k));
  });
  const width = Math.max(1, ...lists.map((l) => l.length));
  const idx: number[] = [];
  for (const l of lists) for (let j = 0; j < width; j++) idx.push(j < l.length ? l[j] : n);
  const src = withSlot(b, cols, lead, n, 0);
  const gathered = b.op('Gather', [src, b.constant(tensor('int64', [t.pIn, width], idx), 'col2im')], {
    axis: int(lead.length),
  });
  return b.reduceSum(gathered, [lead.length + 1], false);
}
