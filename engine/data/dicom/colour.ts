/** Colour conversions to RGB: YBR (full and partial range, 4:2:2 subsampled) and palette colour lookup. */
import type { DataSet } from './dataset';

/** Expands 4:2:2 native data (Y1 Y2 Cb Cr per pixel pair) into interleaved Y Cb Cr per pixel. */
export function upsample422(src: Float64Array, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height * 3);
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x += 2) {
      const y1 = src[i]!,
        y2 = src[i + 1]!,
        cb = src[i + 2]!,
        cr = src[i + 3]!;
      i += 4;
      const o = (y * width + x) * 3;
      out[o] = y1;
      out[o + 1] = cb;
      out[o + 2] = cr;
      if (x + 1 < width) {
        out[o + 3] = y2;
        out[o + 4] = cb;
        out[o + 5] = cr;
      }
    }
  }
  return out;
}

/**
 * YCbCr → RGB in place (PS3.3 C.7.6.3.1.2), rounded and clamped to the stored range, as dcmtk and gdcm do.
 * `partial`: YBR_PARTIAL_* (studio range: Y 16..235, chroma 16..240 for 8 bits).
 */
export function ybrToRgb(data: Float64Array, bits: number, partial: boolean): void {
  const max = 2 ** bits - 1;
  const half = 2 ** (bits - 1);
  const s = 2 ** (bits - 8); // scales the 8-bit partial-range offsets
  const clamp = (v: number): number => (v < 0 ? 0 : v > max ? max : Math.round(v));
  for (let i = 0; i < data.length; i += 3) {
    const y = data[i]!,
      cb = data[i + 1]! - half,
      cr = data[i + 2]! - half;
    if (partial) {
      const yy = 1.164383 * (y - 16 * s);
      data[i] = clamp(yy + 1.596027 * cr);
      data[i + 1] = clamp(yy - 0.391762 * cb - 0.812968 * cr);
      data[i + 2] = clamp(yy + 2.017232 * cb);
    } else {
      data[i] = clamp(y + 1.402 * cr);
      data[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
      data[i + 2] = clamp(y + 1.772 * cb);
    }
  }
}

export interface Palette {
  /** per channel: entries, value of the first mapped stored value, output bits */
  first: number;
  entries: number;
  bits: number;
  red: Uint16Array;
  green: Uint16Array;
  blue: Uint16Array;
}

/** Reads the red, green and blue palette LUTs (PS3.3 C.7.6.3.1.5), plain or segmented. Undefined when absent. */
export function readPalette(ds: DataSet, signed: boolean): Palette | undefined {
  const desc = (tag: string): [number, number, number] | undefined => {
    const el = ds.elements[tag];
    if (!el || el.length < 6) return undefined;
    const n = ds.uint16(tag, 0)!;
    let first = ds.uint16(tag, 1)!;
    if (signed && first >= 0x8000) first -= 0x10000;
    return [n === 0 ? 65536 : n, first, ds.uint16(tag, 2)!];
  };
  const d = desc('x00281101');
  if (!d) return undefined;
  const [entries, first, bits] = d;
  const lut = (tag: string): Uint16Array | undefined => {
    const el = ds.elements[tag];
    if (!el) return segmented(ds, tag.replace('x0028120', 'x0028122'), entries); // 1201 → 1221 …
    const out = new Uint16Array(entries);
    if (el.length === entries) {
      // 8-bit entries packed one per byte (seen in the wild though the standard asks for 16-bit words)
      for (let i = 0; i < entries; i++) out[i] = ds.byteArray[el.dataOffset + i]!;
    } else if (el.length >= entries * 2) {
      for (let i = 0; i < entries; i++) out[i] = ds.uint16(tag, i)!;
    } else {
      return undefined;
    }
    return out;
  };
  const red = lut('x00281201'),
    green = lut('x00281202'),
    blue = lut('x00281203');
  if (!red || !green || !blue) return undefined;
  return { first, entries, bits: bits === 8 || bits === 16 ? bits : 16, red, green, blue };
}

/** Maps stored values through the palette; values outside the table take its first or last entry. */
export function applyPalette(stored: Float64Array, p: Palette): Float32Array {
  const out = new Float32Array(stored.length * 3);
  const last = p.entries - 1;
  for (let i = 0; i < stored.length; i++) {
    let k = stored[i]! - p.first;
    k = k < 0 ? 0 : k > last ? last : k;
    out[3 * i] = p.red[k]!;
    out[3 * i + 1] = p.green[k]!;
    out[3 * i + 2] = p.blue[k]!;
  }
  return out;
}

/** Round half to even, as numpy does: keeps segmented LUTs identical to pydicom's expansion. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Expands a segmented palette LUT (PS3.3 C.7.9.2): discrete runs (opcode 0), linear ramps from the previous value
 * (opcode 1) and indirect references to earlier segments (opcode 2).
 */
function segmented(ds: DataSet, tag: string, entries: number): Uint16Array | undefined {
  const el = ds.elements[tag];
  if (!el || el.length < 4) return undefined;
  const words = Array.from({ length: el.length >> 1 }, (_, i) => ds.uint16(tag, i)!);
  const out: number[] = [];
  const expand = (start: number, maxSegments: number): void => {
    let i = start;
    for (let seg = 0; seg < maxSegments && i + 1 < words.length && out.length < entries; seg++) {
      const op = words[i]!,
        n = words[i + 1]!;
      if (op === 0) {
        for (let k = 0; k < n; k++) out.push(words[i + 2 + k]!);
        i += 2 + n;
      } else if (op === 1) {
        if (out.length === 0) throw new Error('segmented palette starts with a linear segment');
        const y0 = out[out.length - 1]!,
          y1 = words[i + 2]!;
        const step = (y1 - y0) / n;
        for (let k = 0; k < n; k++) out.push(y1 === y0 ? y1 : roundEven(y0 + step + k * step));
        i += 3;
      } else if (op === 2) {
        const offset = words[i + 2]! | (words[i + 3]! << 16);
        expand(offset, n);
        i += 4;
      } else {
        throw new Error(`segmented palette opcode ${op} is not defined`);
      }
    }
  };
  expand(0, Infinity);
  if (out.length < entries) return undefined;
  return Uint16Array.from(out.slice(0, entries));
}
