/**
 * Test fixtures written byte by byte, because sharp cannot write every variant users bring
 * (16-bit grey+alpha PNG, palette PNG with exact indices, 16-bit TIFF). Used by the tests only.
 */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export type PngColour = 'grey' | 'rgb' | 'palette' | 'grey-alpha' | 'rgba';
const COLOUR_TYPE: Record<PngColour, number> = { grey: 0, rgb: 2, palette: 3, 'grey-alpha': 4, rgba: 6 };
const CHANNELS: Record<PngColour, number> = { grey: 1, rgb: 3, palette: 1, 'grey-alpha': 2, rgba: 4 };

/** A PNG from interleaved samples (8- or 16-bit); palette images take indices plus `palette` RGB triples. */
export function encodePng(
  width: number,
  height: number,
  colour: PngColour,
  bitDepth: 8 | 16,
  samples: ArrayLike<number>,
  palette?: number[],
): Buffer {
  const ch = CHANNELS[colour];
  const bps = bitDepth / 8;
  const rowBytes = width * ch * bps;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (rowBytes + 1)] = 0; // filter: none
    for (let i = 0; i < width * ch; i++) {
      const v = samples[y * width * ch + i];
      const o = y * (rowBytes + 1) + 1 + i * bps;
      if (bps === 2) raw.writeUInt16BE(v, o);
      else raw[o] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = COLOUR_TYPE[colour];
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (colour === 'palette') parts.push(chunk('PLTE', Uint8Array.from(palette ?? [])));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** A PNG header claiming a huge image, with a tiny body: a decompression bomb stand-in. */
export function encodeHugePngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1000))),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** An uncompressed little-endian baseline TIFF, 8- or 16-bit, grey or RGB, with optional extra bands. */
export function encodeTiff(
  width: number,
  height: number,
  channels: number,
  bitDepth: 8 | 16,
  samples: ArrayLike<number>,
): Buffer {
  const bps = bitDepth / 8;
  const dataLen = width * height * channels * bps;
  const entries: [number, number, number, number | number[]][] = []; // tag, type, count, value
  const SHORT = 3;
  const LONG = 4;
  entries.push([256, LONG, 1, width], [257, LONG, 1, height]);
  entries.push([258, SHORT, channels, Array(channels).fill(bitDepth)]);
  entries.push([259, SHORT, 1, 1]); // no compression
  entries.push([262, SHORT, 1, channels >= 3 ? 2 : 1]); // RGB or min-is-black
  entries.push([273, LONG, 1, 0]); // strip offset, patched below
  entries.push([277, SHORT, 1, channels]);
  entries.push([278, LONG, 1, height]);
  entries.push([279, LONG, 1, dataLen]);
  entries.push([284, SHORT, 1, 1]); // contiguous
  if (channels > 3) entries.push([338, SHORT, channels - 3, Array(channels - 3).fill(0)]); // extra samples: unspecified
  const ifdOffset = 8;
  const ifdSize = 2 + entries.length * 12 + 4;
  let extra = ifdOffset + ifdSize;
  const extraBlocks: Buffer[] = [];
  const ifd = Buffer.alloc(ifdSize);
  ifd.writeUInt16LE(entries.length, 0);
  let stripEntry = -1;
  entries.forEach(([tag, type, count, value], k) => {
    const o = 2 + k * 12;
    ifd.writeUInt16LE(tag, o);
    ifd.writeUInt16LE(type, o + 2);
    ifd.writeUInt32LE(count, o + 4);
    const values = Array.isArray(value) ? value : [value];
    const size = (type === SHORT ? 2 : 4) * count;
    if (size <= 4) {
      values.forEach((v, i) => (type === SHORT ? ifd.writeUInt16LE(v, o + 8 + i * 2) : ifd.writeUInt32LE(v, o + 8)));
    } else {
      const b = Buffer.alloc(size);
      values.forEach((v, i) => (type === SHORT ? b.writeUInt16LE(v, i * 2) : b.writeUInt32LE(v, i * 4)));
      ifd.writeUInt32LE(extra, o + 8);
      extra += size;
      extraBlocks.push(b);
    }
    if (tag === 273) stripEntry = o + 8;
  });
  ifd.writeUInt32LE(extra, stripEntry);
  const data = Buffer.alloc(dataLen);
  for (let i = 0; i < width * height * channels; i++) {
    if (bps === 2) data.writeUInt16LE(samples[i], i * 2);
    else data[i] = samples[i];
  }
  const header = Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]);
  return Buffer.concat([header, ifd, ...extraBlocks, data]);
}
