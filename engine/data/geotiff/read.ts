/**
 * Multispectral GeoTIFF reading on the `geotiff` package: the header without decoding pixels, and the full
 * raster as planar float32 with nodata as NaN. Any band count; uint8/16/32, int8/16/32 and float16/32/64 samples;
 * the compressions the package decodes in Node. Errors name the file and what to do (AttuneError).
 */
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { fromArrayBuffer, fromFile, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { AttuneError } from '../../errors';

/** Classic TIFF (II*\0, MM\0*) and BigTIFF (II+\0, MM\0+). */
export function looksLikeTiff(head: Buffer): boolean {
  if (head.length < 4) return false;
  const le = head[0] === 0x49 && head[1] === 0x49 && head[3] === 0x00 && (head[2] === 42 || head[2] === 43);
  const be = head[0] === 0x4d && head[1] === 0x4d && head[2] === 0x00 && (head[3] === 42 || head[3] === 43);
  return le || be;
}

export type SampleFormat = 'uint' | 'int' | 'float';

export interface RasterHeader {
  width: number;
  height: number;
  bands: number;
  sampleFormat: SampleFormat;
  bitsPerSample: number;
  /** GDAL_NODATA: pixels of any band holding this value are missing */
  nodata?: number;
  /** band descriptions from GDAL metadata, when every band has one */
  bandNames?: string[];
  /** e.g. 'EPSG:32631', from the GeoKeys when present */
  crs?: string;
  /** TIFF compression, named (e.g. 'none', 'deflate', 'lzw', 'packbits') */
  compression: string;
}

export interface Raster {
  file: string;
  header: RasterHeader;
  width: number;
  height: number;
  bands: number;
  /** band-interleaved planar float32 [bands][height*width]; nodata pixels → NaN */
  data: Float32Array;
}

/** TIFF Compression tag values (TIFF 6.0, libtiff's tiff.h) → names, for messages. */
const COMPRESSION_NAMES: Record<number, string> = {
  1: 'none',
  2: 'CCITT RLE',
  3: 'CCITT Group 3 fax',
  4: 'CCITT Group 4 fax',
  5: 'lzw',
  6: 'old-style JPEG',
  7: 'jpeg',
  8: 'deflate',
  32773: 'packbits',
  32946: 'deflate',
  34676: 'SGI LogLuv',
  34712: 'JPEG 2000',
  34887: 'lerc',
  34925: 'lzma',
  50000: 'zstd',
  50001: 'webp',
  50002: 'JPEG XL',
};
/**
 * What geotiff 3 decodes in Node. It also registers webp (50001), but that decoder needs the browser's
 * createImageBitmap; old-style JPEG (6) is registered only to throw.
 */
const DECODABLE = new Set([1, 5, 7, 8, 32773, 32946, 34887, 50000]);
const SUPPORTED_LIST = 'none, deflate, lzw, packbits, jpeg, zstd, lerc';

/** 2^28 float32 samples = 1 GiB: beyond that a single image is a scene to tile, not a training image. */
const MAX_SAMPLES = 2 ** 28;

const SAMPLE_FORMATS: Record<number, SampleFormat> = { 1: 'uint', 2: 'int', 3: 'float' };

function unreadable(file: string, why: string, details: Record<string, unknown> = {}): AttuneError {
  return new AttuneError(
    'tiff-unreadable',
    `${file} is not a readable GeoTIFF: ${why}.`,
    'Check the file opens in a GIS tool (e.g. QGIS or gdalinfo); re-export it as a plain GeoTIFF, or remove it from the dataset.',
    { file, ...details },
  );
}

/** `needed`: the byte the file must reach; `what` runs to it (pixel data, or the first directory of tags). */
function truncated(
  file: string,
  size: number,
  needed?: number,
  what: 'pixel data' | 'tag directory' = 'pixel data',
): AttuneError {
  const where =
    needed === undefined
      ? 'its tags point past the end'
      : what === 'pixel data'
        ? `its pixel data runs to byte ${needed}`
        : `its tag directory runs to byte ${needed}`;
  return new AttuneError(
    'tiff-truncated',
    `${file} is truncated: it has ${size} bytes but ${where}.`,
    'The file was cut short (an interrupted copy or download). Copy it again from the source, or remove it from the dataset.',
    { file, size, needed },
  );
}

interface Opened {
  tiff: GeoTIFF;
  image: GeoTIFFImage;
  size: number;
}

/** First IFD offset from the file header, to tell a cut-off file from a corrupt one. */
function firstIfdOffset(bytes: Buffer): number | undefined {
  if (bytes.length < 8 || !looksLikeTiff(bytes)) return undefined;
  const le = bytes[0] === 0x49;
  const big = (le ? bytes.readUInt16LE(2) : bytes.readUInt16BE(2)) === 43;
  if (big) return bytes.length < 16 ? undefined : Number(le ? bytes.readBigUInt64LE(8) : bytes.readBigUInt64BE(8));
  return le ? bytes.readUInt32LE(4) : bytes.readUInt32BE(4);
}

async function open(file: string, bytes: Buffer): Promise<Opened> {
  if (!looksLikeTiff(bytes)) throw unreadable(file, 'it does not start with a TIFF signature (II*\\0 or MM\\0*)');
  await checkFirstDirectory(file, bytes, bytes.length, async (o, n) => bytes.subarray(o, o + n));
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const tiff = await fromArrayBuffer(ab);
    const image = await tiff.getImage(0);
    return { tiff, image, size: bytes.length };
  } catch (e) {
    throw parseFailure(file, bytes, bytes.length, e);
  }
}

/**
 * The first tag directory must lie inside the file: geotiff parses a cut-off directory without complaint and
 * reports missing tags instead. `at(offset, length)` reads bytes of the file.
 */
async function checkFirstDirectory(
  file: string,
  head: Buffer,
  size: number,
  at: (offset: number, length: number) => Promise<Buffer>,
): Promise<void> {
  const ifd = firstIfdOffset(head);
  if (ifd === undefined) return;
  const le = head[0] === 0x49;
  const big = (le ? head.readUInt16LE(2) : head.readUInt16BE(2)) === 43;
  const countBytes = big ? 8 : 2;
  if (ifd + countBytes > size) throw truncated(file, size, ifd + countBytes, 'tag directory');
  const c = await at(ifd, countBytes);
  const n = big ? Number(le ? c.readBigUInt64LE(0) : c.readBigUInt64BE(0)) : le ? c.readUInt16LE(0) : c.readUInt16BE(0);
  const end = ifd + countBytes + n * (big ? 20 : 12) + (big ? 8 : 4);
  if (end > size) throw truncated(file, size, end, 'tag directory');
}

/** A parse error: truncated when the file ends before its first IFD or a read ran past the end, else unreadable. */
function parseFailure(file: string, head: Buffer, size: number, e: unknown): AttuneError {
  const ifd = firstIfdOffset(head);
  if (ifd !== undefined && ifd >= size) return truncated(file, size, ifd, 'tag directory');
  if (e instanceof RangeError || /out of bounds|beyond|EOF|offset/i.test((e as Error).message ?? ''))
    return truncated(file, size);
  return unreadable(file, (e as Error).message);
}

/** Largest offset + byte count over the strips or tiles: the file must reach it. */
async function dataEnd(image: GeoTIFFImage): Promise<number> {
  const fd = image.getFileDirectory();
  const tiled = !fd.hasTag('StripOffsets');
  const offsets = (await fd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')) as ArrayLike<number> | undefined;
  const counts = (await fd.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')) as ArrayLike<number> | undefined;
  let end = 0;
  if (!offsets || !counts) return end;
  for (let i = 0; i < offsets.length; i++) end = Math.max(end, Number(offsets[i]) + Number(counts[i] ?? 0));
  return end;
}

function crsOf(image: GeoTIFFImage): string | undefined {
  const keys = image.getGeoKeys();
  if (!keys) return undefined;
  // 32767 = user-defined (no EPSG code to report)
  const code = [keys.ProjectedCSTypeGeoKey, keys.GeographicTypeGeoKey].find(
    (c) => typeof c === 'number' && c > 0 && c !== 32767,
  );
  return code !== undefined ? `EPSG:${code}` : undefined;
}

async function bandNamesOf(image: GeoTIFFImage, bands: number): Promise<string[] | undefined> {
  if (!image.getFileDirectory().hasTag('GDAL_METADATA')) return undefined;
  const names: string[] = [];
  for (let b = 0; b < bands; b++) {
    const md = await image.getGDALMetadata(b);
    const d = md?.DESCRIPTION;
    if (typeof d !== 'string' || !d.trim()) return undefined;
    names.push(d.trim());
  }
  return names;
}

async function headerOf(file: string, o: Opened): Promise<RasterHeader> {
  const { image } = o;
  const bands = image.getSamplesPerPixel();
  const fd = image.getFileDirectory();
  const code = Number((await fd.loadValue('Compression')) ?? 1);
  const compression = COMPRESSION_NAMES[code] ?? `unknown (TIFF compression code ${code})`;
  if (!DECODABLE.has(code))
    throw new AttuneError(
      'tiff-compression',
      `${file} uses ${compression} compression, which Attune cannot decode.`,
      `Re-save it uncompressed or with one of: ${SUPPORTED_LIST} (e.g. gdal_translate -co COMPRESS=DEFLATE in.tif out.tif).`,
      { file, compression, code },
    );
  const formats = new Set<number>();
  const bits = new Set<number>();
  for (let b = 0; b < bands; b++) {
    formats.add(image.getSampleFormat(b) ?? 1);
    bits.add(image.getBitsPerSample(b));
  }
  const [fmt] = formats;
  const [bitsPerSample] = bits;
  const sampleFormat = SAMPLE_FORMATS[fmt];
  if (
    formats.size > 1 ||
    bits.size > 1 ||
    !sampleFormat ||
    ![8, 16, 32, 64].includes(bitsPerSample) ||
    (sampleFormat === 'float' && bitsPerSample === 8)
  )
    throw new AttuneError(
      'tiff-sample-format',
      `${file} stores its bands as ${[...bits].join('/')}-bit ${[...formats].map((f) => SAMPLE_FORMATS[f] ?? `format ${f}`).join('/')} samples, which Attune does not read.`,
      'Convert it to one of uint8, uint16, int16 or float32 for all bands (e.g. gdal_translate -ot UInt16).',
      { file },
    );
  const end = await dataEnd(image);
  if (end > o.size) throw truncated(file, o.size, end);
  const nodata = image.getGDALNoData();
  return {
    width: image.getWidth(),
    height: image.getHeight(),
    bands,
    sampleFormat,
    bitsPerSample,
    ...(nodata !== null && Number.isFinite(nodata) ? { nodata } : {}),
    ...(await bandNamesOf(image, bands).then((n) => (n ? { bandNames: n } : {}))),
    ...(crsOf(image) ? { crs: crsOf(image) } : {}),
    compression,
  };
}

async function readBytes(file: string, limit?: number, offset = 0): Promise<Buffer> {
  try {
    if (limit === undefined) return await readFile(file);
    const h = await openFile(file, 'r');
    try {
      const size = (await h.stat()).size;
      const buf = Buffer.alloc(Math.max(0, Math.min(size - offset, limit)));
      await h.read(buf, 0, buf.length, offset);
      return buf;
    } finally {
      await h.close();
    }
  } catch (e) {
    throw new AttuneError(
      'file-unreadable',
      `Cannot read ${file}: ${(e as Error).message}.`,
      'Check the file exists and is readable.',
      { file },
    );
  }
}

export interface ReadOptions {
  /** the band count every file of the dataset must have (from the first file or the run record) */
  expectBands?: number;
}

/** Fails with 'band-count' when a file's band count differs from the dataset's. */
export function checkBandCount(file: string, header: RasterHeader, expected: number): void {
  if (header.bands !== expected)
    throw new AttuneError(
      'band-count',
      `${file} has ${header.bands} band${header.bands === 1 ? '' : 's'}, but the other images of this dataset have ${expected}.`,
      'Every GeoTIFF of a dataset must have the same bands in the same order: remove this file or re-export it with the same bands.',
      { file, bands: header.bands, expected },
    );
}

/** Header and checks without decoding pixels: geotiff's file source reads only the bytes the tags need. */
export async function readRasterHeader(file: string, opts: ReadOptions = {}): Promise<RasterHeader> {
  const size = await stat(file).then(
    (s) => s.size,
    () => -1,
  );
  if (size < 0)
    throw new AttuneError(
      'file-unreadable',
      `Cannot read ${file}: it does not exist or is not accessible.`,
      'Check the path.',
      { file },
    );
  const head = await readBytes(file, 16);
  if (!looksLikeTiff(head)) throw unreadable(file, 'it does not start with a TIFF signature (II*\\0 or MM\\0*)');
  await checkFirstDirectory(file, head, size, (o, n) => readBytes(file, n, o));
  let tiff: GeoTIFF | undefined;
  try {
    let o: Opened;
    try {
      tiff = await fromFile(file);
      o = { tiff, image: await tiff.getImage(0), size };
    } catch (e) {
      throw parseFailure(file, head, size, e);
    }
    const h = await headerOf(file, o).catch((e: unknown) => {
      throw e instanceof AttuneError ? e : parseFailure(file, head, size, e);
    });
    if (opts.expectBands !== undefined) checkBandCount(file, h, opts.expectBands);
    return h;
  } finally {
    // the file source holds an open descriptor: a scan reads thousands of headers
    await tiff?.close();
  }
}

/** Raw samples → planar float32, nodata → NaN; 'all-nodata' when no pixel of any band holds data. */
export async function readRaster(file: string, opts: ReadOptions = {}): Promise<Raster> {
  const bytes = await readBytes(file);
  const o = await open(file, bytes);
  const header = await headerOf(file, o);
  if (opts.expectBands !== undefined) checkBandCount(file, header, opts.expectBands);
  const { width, height, bands } = header;
  const plane = width * height;
  if (plane * bands > MAX_SAMPLES)
    throw new AttuneError(
      'raster-too-large',
      `${file} is ${width}×${height} pixels × ${bands} band${bands === 1 ? '' : 's'}, more than Attune decodes at once (${MAX_SAMPLES / 2 ** 20} M samples).`,
      'Cut it into tiles of the size the model sees (e.g. 64×64 to 512×512 pixels, gdal_retile.py), one tile per labelled image.',
      { file, width, height, bands },
    );
  let rasters: ArrayLike<number>[];
  try {
    rasters = (await o.image.readRasters({ interleave: false })) as unknown as ArrayLike<number>[];
  } catch (e) {
    if (e instanceof RangeError) throw truncated(file, bytes.length);
    throw unreadable(file, `its pixels do not decode (${(e as Error).message})`);
  }
  const data = new Float32Array(bands * plane);
  // float32 samples hold the nodata value rounded to float32 (GDAL writes it as decimal text)
  const nd =
    header.nodata === undefined
      ? undefined
      : header.sampleFormat === 'float' && header.bitsPerSample === 32
        ? Math.fround(header.nodata)
        : header.nodata;
  let valid = 0;
  for (let b = 0; b < bands; b++) {
    const src = rasters[b];
    const off = b * plane;
    for (let i = 0; i < plane; i++) {
      const v = src[i];
      if (v === nd || Number.isNaN(v)) data[off + i] = Number.NaN;
      else {
        data[off + i] = v;
        valid++;
      }
    }
  }
  if (valid === 0)
    throw new AttuneError(
      'all-nodata',
      `${file} holds no data: every pixel of its ${bands} band${bands === 1 ? '' : 's'} is nodata${nd !== undefined ? ` (${nd})` : ''}.`,
      'Remove this tile from the dataset (it is empty, e.g. outside the satellite swath).',
      { file, nodata: nd },
    );
  return { file, header, width, height, bands, data };
}
