/** Test helpers: paths to the shared DICOM sets and a minimal explicit-VR-LE writer for files the sets lack. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SHARED } from '../../testing/fixtures';
import { dicomParser } from './dataset';

export const DATASETS = join(SHARED, 'datasets');
export const ZOO = join(DATASETS, 'dicom-zoo');
export const zoo = (rel: string): string => join(ZOO, rel);

const LONG_VRS = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

/** One explicit VR little-endian element; strings are padded to even length as DICOM requires. */
export function element(group: number, elem: number, vr: string, value: string | Uint8Array): Buffer {
  let data = typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value);
  if (data.length % 2) data = Buffer.concat([data, Buffer.from([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]);
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(data.length, 8);
  else head.writeUInt16LE(data.length, 6);
  return Buffer.concat([head, data]);
}

/** Preamble, 'DICM' and a file meta group for `sopClass` in transfer syntax `ts`, followed by `body`. */
export function part10(sopClass: string, ts: string, body: Buffer): Buffer {
  const meta = Buffer.concat([
    element(0x0002, 0x0001, 'OB', new Uint8Array([0, 1])),
    element(0x0002, 0x0002, 'UI', sopClass),
    element(0x0002, 0x0003, 'UI', '1.2.826.0.1.3680043.8.498.1'),
    element(0x0002, 0x0010, 'UI', ts),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length);
  const preamble = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM')]);
  return Buffer.concat([preamble, element(0x0002, 0x0000, 'UL', groupLength), meta, body]);
}

/** A copy of a Part 10 file with a new transfer syntax UID, its dataset optionally transformed (e.g. deflated). */
export function retagged(file: string, ts: string, transform: (body: Buffer) => Buffer = (b) => b): Buffer {
  const bytes = readFileSync(file);
  const metaEnd = 144 + bytes.readUInt32LE(140);
  const meta = dicomParser.parseDicom(bytes, { untilTag: 'x00080000' });
  const sopClass = meta.string('x00020002') ?? '';
  return part10(sopClass, ts, transform(bytes.subarray(metaEnd)));
}

/** Float data as bytes, for hashing and bit-exact comparison. */
export const floatBytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** An encapsulated pixel data element (empty offset table, one fragment per frame), explicit VR LE. */
export function encapsulated(frames: Uint8Array[]): Buffer {
  const item = (data: Uint8Array): Buffer => {
    const padded = data.length % 2 ? Buffer.concat([data, Buffer.from([0])]) : Buffer.from(data);
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0xfffe, 0);
    head.writeUInt16LE(0xe000, 2);
    head.writeUInt32LE(padded.length, 4);
    return Buffer.concat([head, padded]);
  };
  const head = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return Buffer.concat([head, item(new Uint8Array(0)), ...frames.map(item), end]);
}

/** Image-describing elements (group 0028 and SOP class) for a single-sample or RGB/YBR image. */
export function imageElements(o: {
  rows: number;
  columns: number;
  samples: 1 | 3;
  photometric: string;
  bits: number;
  stored?: number;
  signed?: boolean;
}): Buffer {
  const us = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  const els = [
    element(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.7'),
    element(0x0008, 0x0060, 'CS', 'OT'),
    element(0x0028, 0x0002, 'US', us(o.samples)),
    element(0x0028, 0x0004, 'CS', o.photometric),
  ];
  if (o.samples === 3) els.push(element(0x0028, 0x0006, 'US', us(0)));
  els.push(
    element(0x0028, 0x0010, 'US', us(o.rows)),
    element(0x0028, 0x0011, 'US', us(o.columns)),
    element(0x0028, 0x0100, 'US', us(o.bits)),
    element(0x0028, 0x0101, 'US', us(o.stored ?? o.bits)),
    element(0x0028, 0x0102, 'US', us((o.stored ?? o.bits) - 1)),
    element(0x0028, 0x0103, 'US', us(o.signed ? 1 : 0)),
  );
  return Buffer.concat(els);
}

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
  isUsingColorTransform: boolean;
}
export interface WasmEncoder {
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  getEncodedBuffer(): Uint8Array;
  encode(): void;
  setNearLossless?(near: number): void;
  setQuality?(lossless: boolean, quantizationStep: number): void;
  delete?(): void;
}

/** The full (encoder + decoder) WASM build of a Cornerstone codec, to make files of syntaxes the zoo lacks. */
export async function encoderModule(pkg: string): Promise<Record<string, new () => WasmEncoder>> {
  const require = createRequire(import.meta.url);
  const factory = require(`${pkg}/wasmjs`) as (o: object) => Promise<Record<string, new () => WasmEncoder>>;
  return factory({ wasmBinary: readFileSync(require.resolve(`${pkg}/wasm`)), print: () => {}, printErr: () => {} });
}

/** Encodes one 16-bit grey frame with `className` from `pkg`; `configure` sets lossless/near-lossless options. */
export async function encodeFrame(
  pkg: string,
  className: string,
  pixels: Uint16Array,
  width: number,
  height: number,
  bits: number,
  configure: (e: WasmEncoder) => void = () => {},
): Promise<Uint8Array> {
  const mod = await encoderModule(pkg);
  const enc = new mod[className]!();
  enc
    .getDecodedBuffer({
      width,
      height,
      bitsPerSample: bits,
      componentCount: 1,
      isSigned: false,
      isUsingColorTransform: false,
    })
    .set(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  configure(enc);
  enc.encode();
  const out = Uint8Array.from(enc.getEncodedBuffer());
  enc.delete?.();
  return out;
}
