/**
 * The GeoTIFF reader on the shared EuroSAT-MS tiles, checked against GDAL's values (committed fixture made by
 * fixtures/make-reference.py), plus written and damaged files for each kind of bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeArrayBuffer } from 'geotiff';
import { isAttuneError } from '../../errors';
import { SHARED, tempDir } from '../../testing/fixtures';
import { looksLikeTiff, readRaster, readRasterHeader } from './index';

const EUROSAT = join(SHARED, 'datasets/eurosat-ms');
interface Reference {
  files: {
    file: string;
    width: number;
    height: number;
    bands: number;
    type: string;
    crs: string | null;
    nodata: number | null;
    stats: { min: number; max: number; mean: number; std: number }[];
    pixels: { x: number; y: number; values: number[] }[];
  }[];
}
const REF = JSON.parse(
  readFileSync(new URL('./fixtures/eurosat-ms-reference.json', import.meta.url), 'utf8'),
) as Reference;

const hasGdal = (() => {
  try {
    execFileSync('gdal_translate', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const NO_GDAL = hasGdal
  ? false
  : 'gdal_translate (Debian gdal-bin) is not installed: compression and sample-type variants are not written';

const rejectsWith = (code: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(isAttuneError(e), `expected an AttuneError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  assert.ok(e.hint.length > 10);
  return true;
};

test('looksLikeTiff: classic little/big-endian and BigTIFF signatures; PNG and short buffers are not TIFF', () => {
  const real = readFileSync(join(EUROSAT, REF.files[0].file)).subarray(0, 8);
  assert.ok(looksLikeTiff(real));
  assert.ok(looksLikeTiff(Buffer.from([0x4d, 0x4d, 0, 42])));
  assert.ok(looksLikeTiff(Buffer.from([0x49, 0x49, 43, 0, 8, 0, 0, 0])));
  assert.ok(!looksLikeTiff(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
  assert.ok(!looksLikeTiff(Buffer.from([0x49, 0x49])));
});

test('EuroSAT-MS header and pixels equal GDAL: size, 13 uint16 bands, CRS, sampled values, band statistics', async () => {
  assert.ok(REF.files.length >= 4);
  for (const ref of REF.files) {
    const file = join(EUROSAT, ref.file);
    const h = await readRasterHeader(file);
    assert.deepEqual(
      [h.width, h.height, h.bands, h.sampleFormat, h.bitsPerSample],
      [ref.width, ref.height, ref.bands, 'uint', 16],
    );
    assert.equal(ref.type, 'UInt16');
    assert.equal(h.crs, ref.crs ?? undefined, ref.file);
    assert.equal(h.nodata, ref.nodata ?? undefined);
    assert.equal(h.compression, 'none');
    const r = await readRaster(file);
    assert.deepEqual(r.header, h);
    assert.equal(r.data.length, 13 * 64 * 64);
    const plane = r.width * r.height;
    for (const p of ref.pixels)
      for (let b = 0; b < r.bands; b++)
        assert.equal(
          r.data[b * plane + p.y * r.width + p.x],
          p.values[b],
          `${ref.file} band ${b + 1} at ${p.x},${p.y}`,
        );
    for (let b = 0; b < r.bands; b++) {
      const band = r.data.subarray(b * plane, (b + 1) * plane);
      let min = Infinity,
        max = -Infinity,
        sum = 0;
      for (const v of band) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
      }
      const mean = sum / plane;
      let ss = 0;
      for (const v of band) ss += (v - mean) ** 2;
      const s = ref.stats[b];
      assert.equal(min, s.min);
      assert.equal(max, s.max);
      // GDAL prints statistics to 3 decimals; its std is the population std
      assert.ok(Math.abs(mean - s.mean) <= 6e-4, `${ref.file} band ${b + 1} mean ${mean} vs ${s.mean}`);
      assert.ok(Math.abs(Math.sqrt(ss / plane) - s.std) <= 6e-4, `${ref.file} band ${b + 1} std`);
    }
  }
  // headers of every shared tile: no file descriptor stays open (a scan reads thousands)
  const fds = () => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
  const before = fds();
  const all = readdirSync(EUROSAT).flatMap((c) => readdirSync(join(EUROSAT, c)).map((f) => join(EUROSAT, c, f)));
  for (const f of all) assert.equal((await readRasterHeader(f, { expectBands: 13 })).bands, 13);
  assert.ok(fds() <= before + 2, `${fds() - before} descriptors left open`);
  // the shared tiles come from several UTM zones
  assert.ok(new Set(REF.files.map((f) => f.crs)).size >= 2);
});

test('a GeoTIFF with a different band count is refused with band-count when the dataset expects 13', async () => {
  const dir = tempDir();
  const file = join(dir, 'four-bands.tif');
  const w = 8,
    h = 6;
  // uint8 (geotiff's writer stores int16 samples with the wrong byte order: GDAL reads them as we do)
  const values = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4) * 50 + Math.floor(i / 4));
  writeFileSync(file, Buffer.from(writeArrayBuffer(values, { width: w, height: h })));
  const head = await readRasterHeader(file);
  assert.deepEqual([head.bands, head.sampleFormat, head.bitsPerSample], [4, 'uint', 8]);
  const r = await readRaster(file);
  // pixel-interleaved on disk → planar here: band b of pixel i is values[i*4+b]
  for (let b = 0; b < 4; b++) for (let i = 0; i < w * h; i++) assert.equal(r.data[b * w * h + i], values[i * 4 + b]);
  await assert.rejects(
    readRaster(file, { expectBands: 13 }),
    rejectsWith('band-count', /has 4 bands, but the other images of this dataset have 13/),
  );
  await assert.rejects(readRasterHeader(file, { expectBands: 13 }), rejectsWith('band-count', /4 bands/));
});

test('nodata pixels become NaN; an all-nodata tile is refused with all-nodata', async () => {
  const dir = tempDir();
  const w = 4,
    h = 4,
    bands = 2;
  const values = Float32Array.from({ length: w * h * bands }, (_, i) => (i % 3 === 0 ? -9999 : i / 10));
  const partial = join(dir, 'partial.tif');
  writeFileSync(partial, Buffer.from(writeArrayBuffer(values, { width: w, height: h, GDAL_NODATA: '-9999' })));
  const r = await readRaster(partial);
  assert.equal(r.header.nodata, -9999);
  assert.equal(r.header.sampleFormat, 'float');
  for (let b = 0; b < bands; b++)
    for (let i = 0; i < w * h; i++) {
      const v = values[i * bands + b];
      if (v === -9999) assert.ok(Number.isNaN(r.data[b * w * h + i]));
      else assert.equal(r.data[b * w * h + i], v);
    }
  const empty = join(dir, 'empty.tif');
  writeFileSync(
    empty,
    Buffer.from(writeArrayBuffer(new Uint16Array(w * h * 3), { width: w, height: h, GDAL_NODATA: '0' })),
  );
  assert.equal((await readRasterHeader(empty)).nodata, 0, 'the header alone does not decode pixels');
  await assert.rejects(readRaster(empty), rejectsWith('all-nodata', /every pixel of its 3 bands is nodata \(0\)/));
  const nan = join(dir, 'nan.tif');
  writeFileSync(nan, Buffer.from(writeArrayBuffer(new Float32Array(w * h).fill(Number.NaN), { width: w, height: h })));
  await assert.rejects(readRaster(nan), rejectsWith('all-nodata', /holds no data/));
});

test('a truncated real tile is refused with tiff-truncated (header and raster); a non-TIFF with tiff-unreadable', async () => {
  const dir = tempDir();
  const bytes = readFileSync(join(EUROSAT, REF.files[0].file));
  const cut = join(dir, 'cut.tif');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await assert.rejects(
    readRasterHeader(cut),
    rejectsWith('tiff-truncated', /is truncated: it has \d+ bytes but its pixel data runs to byte \d+/),
  );
  await assert.rejects(readRaster(cut), rejectsWith('tiff-truncated', /truncated/));
  const stub = join(dir, 'stub.tif');
  writeFileSync(stub, bytes.subarray(0, 12));
  await assert.rejects(readRaster(stub), rejectsWith('tiff-truncated', /truncated/));
  await assert.rejects(readRasterHeader(stub), rejectsWith('tiff-truncated', /truncated/));
  // the first tag directory (at byte 8) cut off after its entry count
  const dirCut = join(dir, 'dircut.tif');
  writeFileSync(dirCut, bytes.subarray(0, 40));
  await assert.rejects(readRasterHeader(dirCut), rejectsWith('tiff-truncated', /truncated/));
  const noDir = join(dir, 'nodir.tif');
  writeFileSync(noDir, bytes.subarray(0, 8));
  await assert.rejects(
    readRasterHeader(noDir),
    rejectsWith('tiff-truncated', /has 8 bytes but its tag directory runs to byte 10/),
  );
  const png = join(dir, 'not.tif');
  writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
  await assert.rejects(readRaster(png), rejectsWith('tiff-unreadable', /TIFF signature/));
  await assert.rejects(readRasterHeader(png), rejectsWith('tiff-unreadable', /TIFF signature/));
  await assert.rejects(
    readRasterHeader(join(dir, 'missing.tif')),
    (e: unknown) => isAttuneError(e) && e.code === 'file-unreadable',
  );
});

/** Rewrites a one-value SHORT or LONG tag of a classic TIFF's first IFD in place (either byte order). */
function setTag(bytes: Buffer, tag: number, value: number): Buffer {
  const out = Buffer.from(bytes);
  const le = out[0] === 0x49;
  const u16 = (o: number) => (le ? out.readUInt16LE(o) : out.readUInt16BE(o));
  const ifd = le ? out.readUInt32LE(4) : out.readUInt32BE(4);
  for (let i = 0; i < u16(ifd); i++) {
    const e = ifd + 2 + i * 12;
    if (u16(e) !== tag) continue;
    if (u16(e + 2) === 3) {
      if (le) out.writeUInt16LE(value, e + 8);
      else out.writeUInt16BE(value, e + 8);
    } else if (le) out.writeUInt32LE(value, e + 8);
    else out.writeUInt32BE(value, e + 8);
    return out;
  }
  throw new Error(`no tag ${tag}`);
}
const setCompression = (bytes: Buffer, code: number) => setTag(bytes, 259, code);

test('an unsupported compression is named (LZMA, JPEG 2000, webp): tiff-compression', async () => {
  const dir = tempDir();
  const bytes = readFileSync(join(EUROSAT, REF.files[0].file));
  for (const [code, name] of [
    [34925, 'lzma'],
    [34712, 'JPEG 2000'],
    [50001, 'webp'],
  ] as const) {
    const f = join(dir, `c${code}.tif`);
    writeFileSync(f, setCompression(bytes, code));
    await assert.rejects(readRasterHeader(f), rejectsWith('tiff-compression', new RegExp(`uses ${name} compression`)));
    await assert.rejects(readRaster(f), rejectsWith('tiff-compression', /cannot decode/));
  }
});

test(
  'GDAL-written variants read like the original: deflate/LZW/packbits, tiled, band-planar, uint8/int16/float32, band names',
  { skip: NO_GDAL },
  async () => {
    const dir = tempDir();
    const src = join(EUROSAT, REF.files[1].file);
    const orig = await readRaster(src);
    const gdal = (out: string, ...args: string[]) => {
      execFileSync('gdal_translate', ['-q', '--config', 'GDAL_PAM_ENABLED', 'NO', ...args, src, join(dir, out)]);
      return join(dir, out);
    };
    for (const [name, args] of [
      ['deflate', ['-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=2']],
      ['lzw', ['-co', 'COMPRESS=LZW']],
      ['packbits', ['-co', 'COMPRESS=PACKBITS']],
      ['tiled', ['-co', 'TILED=YES', '-co', 'BLOCKXSIZE=16', '-co', 'BLOCKYSIZE=16', '-co', 'COMPRESS=DEFLATE']],
      ['band', ['-co', 'INTERLEAVE=BAND']],
    ] as const) {
      const r = await readRaster(gdal(`${name}.tif`, ...args));
      assert.deepEqual(r.data, orig.data, name);
      assert.equal(r.header.crs, orig.header.crs);
    }
    const i16 = await readRaster(
      gdal('i16.tif', '-ot', 'Int16', '-scale', '0', '4000', '-2000', '2000', '-co', 'COMPRESS=LZW'),
    );
    assert.deepEqual([i16.header.sampleFormat, i16.header.bitsPerSample], ['int', 16]);
    assert.ok(i16.data.some((v) => v < 0));
    const f32 = await readRaster(
      gdal('f32.tif', '-ot', 'Float32', '-scale', '0', '10000', '0', '1', '-co', 'COMPRESS=DEFLATE'),
    );
    assert.deepEqual([f32.header.sampleFormat, f32.header.bitsPerSample], ['float', 32]);
    for (let i = 0; i < orig.data.length; i += 97) assert.ok(Math.abs(f32.data[i] - orig.data[i] / 10000) < 1e-6);
    const u8 = await readRaster(
      gdal('u8.tif', '-ot', 'Byte', '-b', '4', '-b', '3', '-b', '2', '-scale', '0', '3000', '0', '255'),
    );
    assert.deepEqual([u8.bands, u8.header.sampleFormat, u8.header.bitsPerSample], [3, 'uint', 8]);
    // band descriptions travel in GDAL_METADATA; a VRT is the CLI way to set them
    const vrt = join(dir, 'named.vrt');
    execFileSync('gdal_translate', ['-q', '-of', 'VRT', '-b', '4', '-b', '3', src, vrt]);
    let text = readFileSync(vrt, 'utf8');
    text = text
      .replace(/(<VRTRasterBand[^>]*band="1"[^>]*>)/, '$1<Description>B04</Description>')
      .replace(/(<VRTRasterBand[^>]*band="2"[^>]*>)/, '$1<Description>B03</Description>');
    writeFileSync(vrt, text);
    execFileSync('gdal_translate', [
      '-q',
      '--config',
      'GDAL_PAM_ENABLED',
      'NO',
      '-a_nodata',
      '0',
      vrt,
      join(dir, 'named.tif'),
    ]);
    const named = await readRasterHeader(join(dir, 'named.tif'));
    assert.deepEqual(named.bandNames, ['B04', 'B03']);
    assert.equal(named.nodata, 0);
  },
);

test('a raster too large to decode at once is refused before decoding (raster-too-large)', async () => {
  const dir = tempDir();
  const small = Buffer.from(writeArrayBuffer(new Uint16Array(4 * 4), { width: 4, height: 4 }));
  // 20 000 × 20 000 declared, 32 bytes of data: the header reads, the raster would need 1.6 GB
  const huge = join(dir, 'huge.tif');
  writeFileSync(huge, setTag(setTag(setTag(small, 256, 20000), 257, 20000), 278, 20000));
  assert.deepEqual([(await readRasterHeader(huge)).width, (await readRasterHeader(huge)).height], [20000, 20000]);
  await assert.rejects(
    readRaster(huge),
    rejectsWith('raster-too-large', /20000×20000 pixels × 1 band, more than Attune decodes at once/),
  );
});
