import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { SHARED, DATASETS, tempDir } from '../testing/fixtures';
import { defaultPreprocessing, VIT_NORMALISATION, type Preprocessing } from '../preprocessing';
import { openImage } from './decode';
import { decodeEvalRgb } from './image';
import { openSource } from './source';
import { applyVoi, windowValue } from './values';
import { scanDataset } from './scan';

const PNG16 = path.join(SHARED, 'datasets/ct-contrast-png16');

/** A 16-bit grey PNG decoded by hand (zlib + PNG filters), independent of sharp: the reference for "full precision". */
function readGrey16Png(file: string): { width: number; height: number; samples: Uint16Array } {
  const buf = readFileSync(file);
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 16, 'bit depth');
      assert.equal(data[9], 0, 'greyscale');
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = 2;
  const stride = width * bpp;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= bpp ? out[y * stride + x - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a),
        pb = Math.abs(p - b),
        pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      out[y * stride + x] = (v + [0, a, b, (a + b) >> 1, paeth][f]) & 0xff;
    }
  }
  const samples = new Uint16Array(width * height);
  for (let i = 0; i < samples.length; i++) samples[i] = out.readUInt16BE(i * 2);
  return { width, height, samples };
}

test('16-bit CT PNG (HU + 32768) decodes at full precision: every float sample equals the hand-decoded value', async () => {
  const file = path.join(PNG16, 'CONTRAST_1', readdirSync(path.join(PNG16, 'CONTRAST_1')).sort()[0]);
  const ref = readGrey16Png(file);
  const o = await openImage(file);
  assert.equal(o.kind, 'float');
  if (o.kind !== 'float') return;
  assert.equal(o.image.channels, 1);
  assert.equal(o.image.width, ref.width);
  let diff = 0;
  for (let i = 0; i < ref.samples.length; i++) diff = Math.max(diff, Math.abs(o.image.data[i] - ref.samples[i]));
  assert.equal(diff, 0);
  // a CT: air around the patient near −1000 HU, tissue near 0 HU (far more than 256 distinct levels)
  const hu = Array.from(ref.samples, (v) => v - 32768);
  const lo = hu.reduce((a, b) => Math.min(a, b));
  const hi = hu.reduce((a, b) => Math.max(a, b));
  assert.ok(lo <= -900 && hi >= 100, `HU range ${lo}…${hi}`);
  assert.ok(new Set(ref.samples).size > 256, 'more levels than 8 bits hold');
});

test('a fixed window with an offset (mediastinum C 50 / W 350 on HU = value − 32768) matches the DICOM linear function by hand', async () => {
  const file = path.join(PNG16, 'CONTRAST_0', readdirSync(path.join(PNG16, 'CONTRAST_0')).sort()[0]);
  const ref = readGrey16Png(file);
  const values = {
    voi: { kind: 'window' as const, center: 50, width: 350, preset: 'mediastinum' as const },
    offset: 32768,
    invertMonochrome1: true as const,
  };
  const src = await openSource(file, values);
  assert.equal(src.kind, 'float');
  if (src.kind !== 'float') return;
  let checked = 0;
  for (const i of [
    0,
    1000,
    ref.width * 200 + 256,
    ref.width * 256 + 256,
    ref.width * 300 + 200,
    ref.samples.length - 1,
  ]) {
    const hu = ref.samples[i] - 32768;
    // PS3.3 C.11.2.1.2.1: ((x − (c − 0.5)) / (w − 1) + 0.5), clipped to [0, 1]
    const byHand = Math.min(1, Math.max(0, (hu - 49.5) / 349 + 0.5));
    assert.ok(Math.abs(src.image.data[i] - byHand) < 1e-6, `pixel ${i}: HU ${hu} → ${src.image.data[i]} vs ${byHand}`);
    checked++;
  }
  assert.equal(checked, 6);
  // soft tissue inside the window is spread over many levels, not flattened to one grey
  const pre: Preprocessing = { ...defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std), values };
  const view = await decodeEvalRgb(file, pre);
  assert.ok(view.data instanceof Float32Array);
  const mid = new Set(
    Array.from(view.data)
      .filter((v) => v > 0.05 && v < 0.95)
      .map((v) => Math.round(v * 1000)),
  );
  assert.ok(mid.size > 200, `${mid.size} distinct mid-window levels`);
});

test('VOI rules: window edges, percentile default, MONOCHROME1 inverted after the window, padding (NaN) black', () => {
  assert.equal(windowValue(-1000, 40, 400), 0);
  assert.equal(windowValue(1000, 40, 400), 1);
  assert.ok(Math.abs(windowValue(40, 40, 400) - (0.5 / 399 + 0.5)) < 1e-12);
  const img = { data: Float32Array.from([0, 100, 200, Number.NaN]), width: 4, height: 1, channels: 1 };
  const w = applyVoi(img, { kind: 'window', center: 100, width: 200 });
  assert.deepEqual(Array.from(w.data), [0, 0.5 / 199 + 0.5, 1, 0].map(Math.fround));
  const inv = applyVoi(img, { kind: 'window', center: 100, width: 200 }, { invert: true });
  assert.deepEqual(Array.from(inv.data), [1, 1 - Math.fround(0.5 / 199 + 0.5), 0, 0].map(Math.fround));
  const p = applyVoi(img, { kind: 'file' });
  // training-set percentiles, once fitted, are a fixed window
  assert.deepEqual(
    Array.from(
      applyVoi(img, { kind: 'percentile', low: 1, high: 99, scope: 'dataset', fitted: { lo: 100, hi: 300 } }).data,
    ),
    [0, 0, 0.5, 0],
  );
  assert.deepEqual(Array.from(p.data), [0, 0.5, 1, 0]);
  // the file's own window wins over percentiles under the 'file' rule
  const f = applyVoi(img, { kind: 'file' }, { fileWindow: { center: 0, width: 2 } });
  assert.deepEqual(Array.from(f.data), [1, 1, 1, 0]);
});

test('HAM10000 layout: flat folder, CSV ids without extension → every row resolves (no "ambiguous" self-match)', async () => {
  const root = tempDir('attune-ham-');
  const busi = path.join(DATASETS.busi, 'benign');
  const src = readdirSync(busi).sort().slice(0, 8);
  const rows = ['image_id,dx,lesion_id'];
  src.forEach((f, i) => {
    const id = `ISIC_00274${10 + i}`;
    cpSync(path.join(busi, f), path.join(root, `${id}.png`));
    rows.push(`${id},${i % 2 ? 'nv' : 'mel'},HAM_${i}`);
  });
  writeFileSync(path.join(root, 'HAM10000_metadata.csv'), rows.join('\n') + '\n');
  const r = await scanDataset(root, { cache: false });
  assert.equal(r.layout.kind, 'labels-file');
  assert.equal(r.total, 8, JSON.stringify(r.problems.slice(0, 3)));
  assert.deepEqual(
    r.problems.filter((p) => p.kind === 'ambiguous' || p.kind === 'missing'),
    [],
  );
  assert.equal(r.items.find((i) => i.file === 'ISIC_0027411.png')?.label, 'nv');
});

test('DICOM CT: the file window and the lung preset match a hand computation from the stored pixels and rescale tags', async () => {
  const { dicomParser } = await import('./dicom/dataset');
  const { openDicom } = await import('./source');
  const dir = path.join(SHARED, 'datasets/ct-contrast-dicom/CONTRAST_1');
  for (const name of readdirSync(dir).sort().slice(0, 3)) {
    const file = path.join(dir, name);
    const ds = dicomParser.parseDicom(new Uint8Array(readFileSync(file)));
    const num = (tag: string) => Number(ds.string(tag)!.split('\\')[0]); // first value of a multi-valued DS
    const slope = ds.string('x00281053') ? num('x00281053') : 1;
    const intercept = ds.string('x00281052') ? num('x00281052') : 0;
    const [center, width] = [num('x00281050'), num('x00281051')];
    const signed = ds.uint16('x00280103') === 1;
    const el = ds.elements.x7fe00010;
    const view = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length);
    const cols = ds.uint16('x00280011')!;
    const hu = (i: number) => (signed ? view.getInt16(i * 2, true) : view.getUint16(i * 2, true)) * slope + intercept;
    const byHand = (x: number, c: number, w: number) => Math.min(1, Math.max(0, (x - (c - 0.5)) / (w - 1) + 0.5));
    const own = await openDicom(file, { voi: { kind: 'file' }, offset: 0, invertMonochrome1: true });
    const lung = await openDicom(file, {
      voi: { kind: 'window', center: -600, width: 1500 },
      offset: 0,
      invertMonochrome1: true,
    });
    for (const i of [0, cols * 256 + 256, cols * 200 + 100, cols * 300 + 380, cols * 511 + 511]) {
      assert.ok(Math.abs(own.data[i] - byHand(hu(i), center, width)) < 1e-5, `${name} pixel ${i} file window`);
      assert.ok(Math.abs(lung.data[i] - byHand(hu(i), -600, 1500)) < 1e-5, `${name} pixel ${i} lung`);
    }
  }
});

test('DICOM MONOCHROME1 (CR): inverted after the VOI window, i.e. 1 − window(modality value)', async () => {
  const { readDicomImage } = await import('./dicom');
  const { openDicom } = await import('./source');
  const file = path.join(
    SHARED,
    'datasets/dicom-zoo/CR',
    readdirSync(path.join(SHARED, 'datasets/dicom-zoo/CR')).sort()[0],
  );
  const raw = await readDicomImage(file);
  assert.equal(raw.header.photometric, 'MONOCHROME1');
  assert.equal(raw.invert, true);
  const sorted = Float32Array.from(raw.data).sort();
  const center = sorted[Math.floor(sorted.length / 2)];
  const width = Math.max(2, sorted[Math.floor(sorted.length * 0.95)] - sorted[Math.floor(sorted.length * 0.05)]);
  const out = await openDicom(file, { voi: { kind: 'window', center, width }, offset: 0, invertMonochrome1: true });
  let checked = 0;
  for (let i = 0; i < raw.data.length; i += 9973) {
    assert.ok(Math.abs(out.data[i] - (1 - windowValue(raw.data[i], center, width))) < 1e-6, `pixel ${i}`);
    checked++;
  }
  assert.ok(checked > 10);
  // bright in the file's terms (high value) is dark after inversion
  const hi = raw.data.indexOf(sorted[sorted.length - 1]);
  assert.equal(out.data[hi], 0);
});

test('--window percentile on 16-bit CT: fitted once on the training split (HU after the offset), recorded in run.json', async () => {
  const { openRun } = await import('../run/setup');
  const { MODELS } = await import('../testing/fixtures');
  const { splitItems } = await import('./split');
  const data = tempDir('attune-png16-');
  for (const cls of ['CONTRAST_0', 'CONTRAST_1']) {
    for (const f of readdirSync(path.join(PNG16, cls)).sort().slice(0, 6))
      cpSync(path.join(PNG16, cls, f), path.join(data, cls, f));
  }
  const out = tempDir('attune-png16-run-');
  const { spec, split } = await openRun(
    {
      data,
      model: MODELS.tinyVit,
      method: 'linear',
      outDir: out,
      window: { kind: 'percentile', low: 0.5, high: 99.5, scope: 'dataset' },
      valueOffset: 32768,
    },
    { scanCacheDir: path.join(out, 'cache') },
  );
  const voi = spec.preprocessing.values.voi;
  assert.equal(spec.preprocessing.values.offset, 32768);
  assert.ok(voi.kind === 'percentile' && voi.fitted, JSON.stringify(voi));
  // by hand: every pixel of every training image, HU = value − 32768
  const train = splitItems(split, data, 'train').map((i) => i.file);
  const all: number[] = [];
  for (const f of train) for (const v of readGrey16Png(f).samples) all.push(v - 32768);
  all.sort((a, b) => a - b);
  const at = (p: number) => all[Math.round((p / 100) * (all.length - 1))];
  assert.ok(
    Math.abs(voi.fitted.lo - at(0.5)) <= 2 && Math.abs(voi.fitted.hi - at(99.5)) <= 30,
    `${JSON.stringify(voi.fitted)} vs ${at(0.5)}, ${at(99.5)}`,
  );
});

test('multi-frame DICOM: middle frame by default; --frames all makes every frame a sample, grouped by file', async () => {
  const { openDicom } = await import('./source');
  const { splitDataset } = await import('./split');
  const mr = path.join(SHARED, 'datasets/dicom-zoo/MR');
  const root = tempDir('attune-frames-');
  for (const [cls, f] of [
    ['a', 'emri_small.dcm'],
    ['a', 'emri_small_RLE.dcm'],
    ['b', 'emri_small_big_endian.dcm'],
    ['b', 'emri_small_jpeg_ls_lossless.dcm'],
  ]) {
    cpSync(path.join(mr, f), path.join(root, cls, f));
  }
  const middle = await scanDataset(root, { cache: false });
  assert.equal(middle.total, 4);
  assert.equal(middle.dicom?.multiFrameFiles, 4);
  const all = await scanDataset(root, { cache: false, frames: 'all' });
  assert.equal(all.total, 40);
  assert.deepEqual(
    all.items.filter((i) => i.file.startsWith('a/emri_small.dcm')).map((i) => i.frame),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(all.duplicates.length, 0, 'frames of one file are not duplicates of each other');
  for (const it of all.items) assert.ok(it.group, 'every frame has a group');
  const split = splitDataset(all, { seed: 1 });
  const where = new Map<string, Set<string>>();
  for (const it of split.items) {
    const file = it.file.replace(/::frame=\d+$/, '');
    where.set(file, (where.get(file) ?? new Set()).add(it.split));
  }
  for (const [f, s] of where) assert.equal(s.size, 1, `${f}'s frames in ${[...s].join(', ')}`);
  // an item names its frame: decoding it gives that frame, the default gives the middle one (10 frames → 5)
  const pre = { ...defaultPreprocessing(64, [0, 0, 0], [1, 1, 1]), resize: 'squash' as const };
  const values = {
    voi: { kind: 'window' as const, center: 500, width: 1000 },
    offset: 0,
    invertMonochrome1: true as const,
  };
  const file = path.join(root, 'a/emri_small.dcm');
  const f3 = await decodeEvalRgb(`${file}::frame=3`, { ...pre, values });
  const ref3 = await openDicom(file, values, 3);
  const ref5 = await openDicom(file, values, 5);
  const mid = await decodeEvalRgb(file, { ...pre, values });
  assert.ok(f3.data instanceof Float32Array && mid.data instanceof Float32Array);
  for (const i of [0, 100, 2000, 4095]) {
    assert.ok(Math.abs(f3.data[i * 3] - ref3.data[i]) < 1e-6);
    assert.ok(Math.abs(mid.data[i * 3] - ref5.data[i]) < 1e-6);
  }
  assert.notDeepEqual(Array.from(ref3.data.subarray(0, 500)), Array.from(ref5.data.subarray(0, 500)));
});

test('previews: a CT slice through two windows differs; a 13-band GeoTIFF previews in true colour', async () => {
  const { previewRgbImage } = await import('./preview');
  const ct = path.join(
    SHARED,
    'datasets/ct-contrast-dicom/CONTRAST_0',
    readdirSync(path.join(SHARED, 'datasets/ct-contrast-dicom/CONTRAST_0')).sort()[0],
  );
  const lung = await previewRgbImage(ct, { window: { kind: 'window', center: -600, width: 1500 }, size: 64 });
  const brain = await previewRgbImage(ct, { window: { kind: 'window', center: 40, width: 80 }, size: 64 });
  assert.equal(lung.data.length, 64 * 64 * 3);
  let diff = 0;
  for (let i = 0; i < lung.data.length; i++) diff += Math.abs(lung.data[i] - brain.data[i]);
  assert.ok(diff / lung.data.length > 10, 'the window shows in the preview');
  const ms = path.join(SHARED, 'datasets/eurosat-ms/Forest');
  const tile = await previewRgbImage(path.join(ms, readdirSync(ms).sort()[0]), { size: 32 });
  assert.equal(tile.data.length, 32 * 32 * 3);
  assert.ok(Math.max(...tile.data) > 100, 'stretched, not black');
});
