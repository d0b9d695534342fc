/**
 * Content sniffing from magic bytes. File extensions lie (a PNG saved as .jpg is common), and
 * formats sharp cannot decode (BMP, DICOM) must be named in the report, never silently skipped.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';

export type SniffedFormat =
  'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'dicom' | 'heif' | 'avif' | 'jp2' | 'svg' | 'unknown';

/** Formats the decoder (sharp's prebuilt libvips) handles. */
export const DECODABLE_FORMATS: ReadonlySet<SniffedFormat> = new Set(['jpeg', 'png', 'gif', 'webp', 'tiff', 'avif']);

/** Extensions we treat as images when walking a folder. Anything else is ignored (e.g. .txt, .csv). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.png',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
  '.bmp',
  '.dib',
  '.dcm',
  '.dicom',
  '.heic',
  '.heif',
  '.avif',
  '.jp2',
  '.j2k',
]);

/** Which sniffed format each extension claims. */
const EXTENSION_FORMAT: Record<string, SniffedFormat> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.jpe': 'jpeg',
  '.jfif': 'jpeg',
  '.png': 'png',
  '.gif': 'gif',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.bmp': 'bmp',
  '.dib': 'bmp',
  '.dcm': 'dicom',
  '.dicom': 'dicom',
  '.heic': 'heif',
  '.heif': 'heif',
  '.avif': 'avif',
  '.jp2': 'jp2',
  '.j2k': 'jp2',
};

export function formatFromExtension(file: string): SniffedFormat | undefined {
  return EXTENSION_FORMAT[path.extname(file).toLowerCase()];
}

/** Bytes needed by `sniffHead`: DICOM's `DICM` marker sits at offset 128. */
export const HEAD_BYTES = 132;

export function sniffHead(b: Uint8Array): SniffedFormat {
  const at = (i: number, ...xs: number[]) => xs.every((x, k) => b[i + k] === x);
  const ascii = (i: number, s: string) => at(i, ...Array.from(s, (c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (
    at(0, 0x49, 0x49, 0x2a, 0x00) ||
    at(0, 0x4d, 0x4d, 0x00, 0x2a) ||
    at(0, 0x49, 0x49, 0x2b, 0x00) ||
    at(0, 0x4d, 0x4d, 0x00, 0x2b)
  )
    return 'tiff';
  if (ascii(0, 'BM')) return 'bmp';
  if (b.length >= 132 && ascii(128, 'DICM')) return 'dicom';
  if (ascii(4, 'ftyp')) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  if (at(0, 0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50) || at(0, 0xff, 0x4f, 0xff, 0x51)) return 'jp2';
  const text = String.fromCharCode(...b.subarray(0, Math.min(b.length, 100)))
    .trimStart()
    .toLowerCase();
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg'))) return 'svg';
  return 'unknown';
}

export interface FileProbe {
  size: number;
  format: SniffedFormat;
  /** false when the format has an end marker and it is missing from the tail (file cut short) */
  complete: boolean;
}

/** How far from the end an end marker may sit: some writers pad or append a few bytes after it. */
const TAIL_BYTES = 1024;

/** Reads the head and the tail of a file (two small reads, no decode). */
export async function probeFile(file: string): Promise<FileProbe> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return { size, format: 'unknown', complete: false };
    const head = new Uint8Array(Math.min(size, HEAD_BYTES));
    await fh.read(head, 0, head.length, 0);
    const format = sniffHead(head);
    let complete = true;
    if (format === 'jpeg' || format === 'png' || format === 'gif') {
      const n = Math.min(size, TAIL_BYTES);
      const tail = new Uint8Array(n);
      await fh.read(tail, 0, n, size - n);
      complete = hasEndMarker(format, tail);
    } else if (format === 'webp' && head.length >= 8) {
      // RIFF header states the payload size
      const riffSize = head[4] | (head[5] << 8) | (head[6] << 16) | (head[7] << 24);
      complete = (riffSize >>> 0) + 8 <= size;
    }
    return { size, format, complete };
  } finally {
    await fh.close();
  }
}

function hasEndMarker(format: SniffedFormat, tail: Uint8Array): boolean {
  if (format === 'jpeg') {
    for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return true;
    return false;
  }
  if (format === 'png') {
    for (let i = tail.length - 8; i >= 0; i--) {
      if (tail[i] === 0x49 && tail[i + 1] === 0x45 && tail[i + 2] === 0x4e && tail[i + 3] === 0x44) return true;
    }
    return false;
  }
  if (format === 'gif') {
    // trailer byte 0x3B, possibly followed by padding zeros
    for (let i = tail.length - 1; i >= 0; i--) {
      if (tail[i] === 0x3b) return true;
      if (tail[i] !== 0) return false;
    }
    return false;
  }
  return true;
}

/** A user-facing reason a sniffed format cannot be used, or undefined when it can. */
export function unsupportedReason(format: SniffedFormat): string | undefined {
  switch (format) {
    case 'bmp':
      return 'BMP images are not supported by the image decoder. Convert them to PNG (lossless), e.g. with any image editor or `magick in.bmp out.png`.';
    case 'dicom':
      return 'DICOM files are not supported yet. Export the images to PNG (16-bit is fine) from your PACS viewer or with a DICOM tool (e.g. dcmj2pnm, pydicom).';
    case 'heif':
      return 'HEIC/HEIF photos are not supported. Convert them to JPEG or PNG first.';
    case 'jp2':
      return 'JPEG 2000 images are not supported. Convert them to PNG or TIFF first.';
    case 'svg':
      return 'SVG is a vector format, not a photo; it is not used for training. Rasterise it to PNG if it belongs in the dataset.';
    case 'unknown':
      return 'Not a recognised image format (the file content matches no known image signature).';
    default:
      return undefined;
  }
}
