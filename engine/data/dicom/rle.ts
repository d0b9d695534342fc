/**
 * DICOM RLE lossless (PS3.5 annex G). Written here because no maintained Node package decodes it (Cornerstone's
 * decoder lives inside its image loader). A frame is a 64-byte header of segment offsets, then one PackBits
 * segment per byte plane: for each sample, its most significant byte first.
 */

/** The frame as interleaved samples, each assembled from its `bytesPerSample` byte planes (MSB first). */
export function decodeRle(data: Uint8Array, pixels: number, samples: number, bytesPerSample: number): Float64Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 64) throw new Error('RLE frame shorter than its header');
  const segments = view.getUint32(0, true);
  if (segments !== samples * bytesPerSample) {
    throw new Error(`RLE frame has ${segments} segments, expected ${samples * bytesPerSample}`);
  }
  const out = new Float64Array(pixels * samples);
  const plane = new Uint8Array(pixels);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    if (start < 64 || start > data.length || end > data.length || end < start) {
      throw new Error('RLE segment offset out of range');
    }
    unpackBits(data, start, end, plane);
    const sample = Math.floor(s / bytesPerSample);
    const shift = 8 * (bytesPerSample - 1 - (s % bytesPerSample));
    const scale = 2 ** shift;
    for (let p = 0; p < pixels; p++) out[p * samples + sample]! += plane[p]! * scale;
  }
  return out;
}

/** PackBits: n < 128 copies the next n+1 bytes; n > 128 repeats the next byte 257−n times; 128 is a no-op. */
function unpackBits(src: Uint8Array, start: number, end: number, dst: Uint8Array): void {
  let i = start;
  let o = 0;
  dst.fill(0);
  while (i < end && o < dst.length) {
    const n = src[i++]!;
    if (n < 128) {
      const count = Math.min(n + 1, dst.length - o, end - i);
      dst.set(src.subarray(i, i + count), o);
      i += n + 1;
      o += count;
    } else if (n > 128) {
      const count = Math.min(257 - n, dst.length - o);
      dst.fill(src[i++]!, o, o + count);
      o += count;
    }
  }
  if (o < dst.length) throw new Error('RLE segment ends before the frame does');
}
