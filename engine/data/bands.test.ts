/** Band selection parsing, per-band scaling fitted on real EuroSAT-MS tiles, and the preview. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isAttuneError } from '../errors';
import { SHARED } from '../testing/fixtures';
import {
  applyBandScaling,
  fitBandScaling,
  looksLikeSentinel2,
  parseBandSelection,
  percentile,
  previewRgb,
  SENTINEL2_REFLECTANCE_SCALE,
  type PlanarRaster,
} from './bands';
import { readRaster, type Raster } from './geotiff';

const EUROSAT = join(SHARED, 'datasets/eurosat-ms');
/** two tiles per class, sorted: 20 files, 20·4096 pixels per band */
const TRAIN = readdirSync(EUROSAT)
  .sort()
  .flatMap((c) =>
    readdirSync(join(EUROSAT, c))
      .sort()
      .slice(0, 2)
      .map((f) => join(EUROSAT, c, f)),
  );

async function* lazily(files: string[]): AsyncGenerator<Raster> {
  for (const f of files) yield await readRaster(f);
}

const selectionError = (pattern: RegExp) => (e: unknown) =>
  isAttuneError(e) &&
  e.code === 'band-selection' &&
  pattern.test(e.message) &&
  /three 1-based band numbers/.test(e.hint);

test('band selections parse from the CLI form; mistakes say what is wrong', () => {
  assert.deepEqual(parseBandSelection('4,3,2'), { mode: 'map', bands: [4, 3, 2] });
  assert.deepEqual(parseBandSelection(' 8, 4 ,3 ', 13), { mode: 'map', bands: [8, 4, 3] });
  assert.deepEqual(parseBandSelection('ALL'), { mode: 'all' });
  assert.deepEqual(parseBandSelection('true-colour', 13), { mode: 'map', bands: [4, 3, 2] });
  assert.deepEqual(parseBandSelection('false-color'), { mode: 'map', bands: [8, 4, 3] });
  assert.throws(
    () => parseBandSelection('4,3,14', 13),
    selectionError(/band 14 of 13: these images have only 13 bands/),
  );
  assert.throws(
    () => parseBandSelection('4,3'),
    selectionError(/expected three band numbers separated by commas, got 2 values/),
  );
  assert.throws(() => parseBandSelection('4,3,2,1'), selectionError(/got 4 values/));
  assert.throws(() => parseBandSelection(''), selectionError(/got nothing/));
  assert.throws(() => parseBandSelection('r,g,b'), selectionError(/"r" is not a band number/));
  assert.throws(
    () => parseBandSelection('0,1,2'),
    selectionError(/"0" is not a band number \(bands are counted from 1\)/),
  );
  assert.throws(() => parseBandSelection('4,3,2.5'), selectionError(/"2.5" is not a band number/));
});

test('EuroSAT-MS is recognised as Sentinel-2 (13 uint16 bands)', async () => {
  const r = await readRaster(TRAIN[0]);
  assert.ok(looksLikeSentinel2(r.header));
  assert.ok(!looksLikeSentinel2({ ...r.header, bands: 4 }));
});

/** Exact per-band reference over all values (float64, full sort). */
async function exactStats(files: string[], scale: number) {
  const per: number[][] = Array.from({ length: 13 }, () => []);
  for await (const r of lazily(files)) {
    const plane = r.width * r.height;
    for (let b = 0; b < 13; b++) for (let i = 0; i < plane; i++) per[b].push(r.data[b * plane + i] * scale);
  }
  return per.map((v) => {
    const sorted = Float64Array.from(v).sort();
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
    return { sorted, mean, std };
  });
}

test('scaling fitted on real tiles: exact mean/std/percentiles, bounded reservoir close, JSON round-trip, reflectance units', async () => {
  const exact = await exactStats(TRAIN, 1);
  const full = await fitBandScaling(lazily(TRAIN), { sampleSize: 1 << 17 });
  assert.equal(full.rasters, 20);
  assert.equal(full.bandCount, 13);
  assert.deepEqual(JSON.parse(JSON.stringify(full)), full, 'JSON-serialisable as is');
  for (let b = 0; b < 13; b++) {
    const s = full.bands[b],
      e = exact[b];
    assert.equal(s.count, 20 * 4096);
    assert.ok(Math.abs(s.mean - e.mean) < 1e-9 * e.mean, `band ${b + 1} mean`);
    assert.ok(Math.abs(s.std - e.std) < 1e-9 * e.mean, `band ${b + 1} std`);
    // the reservoir holds every pixel here: percentiles are exact (float32 sample of integer values)
    assert.equal(s.p2, percentile(e.sorted, 2), `band ${b + 1} p2`);
    assert.equal(s.p98, percentile(e.sorted, 98), `band ${b + 1} p98`);
    assert.deepEqual([s.min, s.max], [e.sorted[0], e.sorted.at(-1)]);
  }
  // a 4 096-pixel reservoir per band (5 % of the pixels): its percentiles lie within the exact 1st..3rd / 97th..99th
  const small = await fitBandScaling(lazily(TRAIN), { sampleSize: 4096, seed: 7 });
  for (let b = 0; b < 13; b++) {
    const e = exact[b].sorted;
    assert.ok(
      small.bands[b].p2 >= percentile(e, 1) && small.bands[b].p2 <= percentile(e, 3),
      `band ${b + 1} p2 ${small.bands[b].p2}`,
    );
    assert.ok(small.bands[b].p98 >= percentile(e, 97) && small.bands[b].p98 <= percentile(e, 99), `band ${b + 1} p98`);
    assert.equal(small.bands[b].mean, full.bands[b].mean, 'mean and std never come from the sample');
  }
  // reflectance units: statistics scale, scaled outputs do not change
  const refl = await fitBandScaling(lazily(TRAIN), { sampleSize: 1 << 17, valueScale: SENTINEL2_REFLECTANCE_SCALE });
  assert.ok(Math.abs(refl.bands[3].mean - full.bands[3].mean / 10000) < 1e-9);
  const r = await readRaster(TRAIN[5]);
  for (const sel of [parseBandSelection('4,3,2'), parseBandSelection('all')]) {
    const a = applyBandScaling(r, sel, full),
      b = applyBandScaling(r, sel, refl);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4, `${sel.mode} ${i}`);
  }
});

test('map mode: the chosen bands stretched so training 2..98th percentiles span [0, 1]; all mode standardises every band', async () => {
  const s = await fitBandScaling(lazily(TRAIN), { sampleSize: 1 << 17 });
  const plane = 64 * 64;
  const sel = parseBandSelection('8,4,3', 13);
  assert.ok(sel.mode === 'map');
  let low = 0,
    high = 0,
    total = 0;
  const sum = new Float64Array(13),
    sq = new Float64Array(13);
  for await (const r of lazily(TRAIN)) {
    const x = applyBandScaling(r, sel, s);
    assert.equal(x.length, 3 * plane);
    for (let c = 0; c < 3; c++) {
      const band = sel.bands[c],
        st = s.bands[band - 1];
      for (let i = 0; i < plane; i += 331)
        assert.ok(
          Math.abs(
            x[c * plane + i] - Math.min(1, Math.max(0, (r.data[(band - 1) * plane + i] - st.p2) / (st.p98 - st.p2))),
          ) < 1e-6,
        );
    }
    for (const v of x) {
      assert.ok(v >= 0 && v <= 1);
      if (v === 0) low++;
      if (v === 1) high++;
      total++;
    }
    const all = applyBandScaling(r, { mode: 'all' }, s);
    assert.equal(all.length, 13 * plane);
    for (let b = 0; b < 13; b++)
      for (let i = 0; i < plane; i++) {
        sum[b] += all[b * plane + i];
        sq[b] += all[b * plane + i] ** 2;
      }
  }
  // about 2 % clipped at each end (ties on integer values add a little)
  assert.ok(low / total > 0.01 && low / total < 0.04, `low ${low / total}`);
  assert.ok(high / total > 0.01 && high / total < 0.04, `high ${high / total}`);
  const n = TRAIN.length * plane;
  for (let b = 0; b < 13; b++) {
    assert.ok(Math.abs(sum[b] / n) < 1e-5, `band ${b + 1} mean ${sum[b] / n}`);
    assert.ok(Math.abs(Math.sqrt(sq[b] / n) - 1) < 1e-4, `band ${b + 1} std`);
  }
});

test('nodata (NaN) becomes 0 after scaling; band counts must match the fitted scaling; the band must exist', async () => {
  const s = await fitBandScaling(lazily(TRAIN.slice(0, 4)));
  const r = await readRaster(TRAIN[0]);
  const holes: PlanarRaster = { ...r, data: r.data.slice() };
  const plane = 64 * 64;
  for (let b = 0; b < 13; b++) holes.data[b * plane + 10] = Number.NaN;
  for (const sel of [parseBandSelection('4,3,2'), parseBandSelection('all')]) {
    const x = applyBandScaling(holes, sel, s);
    const channels = x.length / plane;
    for (let c = 0; c < channels; c++) assert.equal(x[c * plane + 10], 0);
    assert.ok(x.every(Number.isFinite));
  }
  const four: PlanarRaster = { width: 64, height: 64, bands: 4, data: r.data.slice(0, 4 * plane), file: 'four.tif' };
  assert.throws(
    () => applyBandScaling(four, { mode: 'all' }, s),
    (e: unknown) =>
      isAttuneError(e) &&
      e.code === 'band-count' &&
      /four.tif has 4 bands, but the model was trained on 13/.test(e.message),
  );
  await assert.rejects(
    fitBandScaling([r, four]),
    (e: unknown) =>
      isAttuneError(e) &&
      e.code === 'band-count' &&
      /four.tif has 4 bands, but the other training images have 13/.test(e.message),
  );
  assert.throws(
    () => applyBandScaling(r, { mode: 'map', bands: [4, 3, 20] }, s),
    (e: unknown) => isAttuneError(e) && /band 20 of 13/.test(e.message),
  );
  await assert.rejects(fitBandScaling([]), (e: unknown) => isAttuneError(e) && e.code === 'band-scaling-empty');
});

test('preview: 8-bit RGB of the mapped bands; all mode previews Sentinel-2 true colour (B04,B03,B02)', async () => {
  const s = await fitBandScaling(lazily(TRAIN), { sampleSize: 1 << 17 });
  const r = await readRaster(TRAIN[3]);
  const p = await previewRgb(r, parseBandSelection('4,3,2'), s);
  assert.deepEqual([p.width, p.height, p.data.length], [64, 64, 64 * 64 * 3]);
  const plane = 64 * 64;
  const x = applyBandScaling(r, parseBandSelection('4,3,2'), s);
  for (let i = 0; i < plane; i += 17)
    for (let c = 0; c < 3; c++) assert.equal(p.data[i * 3 + c], Math.round(x[c * plane + i] * 255));
  assert.deepEqual((await previewRgb(r, { mode: 'all' }, s)).data, p.data);
  const fc = await previewRgb(r, parseBandSelection('false-colour'), s);
  assert.notDeepEqual(fc.data, p.data);
  // without a fitted scaling the tile is stretched on its own: its darkest 2 % are black, its brightest 2 % white
  const own = await previewRgb(r, { mode: 'all' });
  const reds = Array.from({ length: plane }, (_, i) => own.data[i * 3]);
  assert.ok(reds.filter((v) => v === 0).length >= plane * 0.02 && reds.filter((v) => v === 255).length >= plane * 0.02);
});
