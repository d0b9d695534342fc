/**
 * Reduced-resolution JPEG 2000 / HTJ2K decoding (`minSide`): the largest wavelet level whose shorter side stays
 * ≥ minSide, on the zoo's large CR and MR images; its values against an area average of the full decode; the
 * pipeline's tensor against the same image stored uncompressed; and that a multi-frame JPEG hands the codec only
 * the selected frame. Full-resolution decoding is held bit-exact by reference.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../testing/fixtures';
import { defaultPreprocessing, VIT_NORMALISATION } from '../../preprocessing';
import { loadImageTensor, resizeTarget } from '../image';
import { j2kDecompositionLevels } from './codecs';
import { PIXEL_DATA, parseDataSet } from './dataset';
import { encapsulatedFrame } from './frames';
import { headerFromDataSet } from './header';
import { readDicomImage } from './index';
import { reductionLevel } from './pixels';
import { encapsulated, encodeFrame, imageElements, part10, zoo } from './test-dicom';

let dir: string;
before(() => {
  dir = tempDir('attune-dicom-reduced-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Frame `k`'s compressed bytes, as readDicomImage hands them to the codec. */
function frameBytes(file: string, k = 0, isJpeg = false): { data: Uint8Array; fragments: number[] } {
  const bytes = readFileSync(file);
  const ds = parseDataSet(new Uint8Array(bytes), false);
  const el = ds.elements[PIXEL_DATA]!;
  const data = encapsulatedFrame(ds, el, headerFromDataSet(ds, bytes), k, isJpeg);
  return { data, fragments: (el.fragments ?? []).map((f) => f.length) };
}

/**
 * Area average of s×s blocks (partial blocks at the edges), the blocks offset by `shift` pixels. A wavelet
 * low-pass sample n sits at 2^k·n of the full grid (even-index centring), not at the block centre
 * 2^k·n + (2^k−1)/2: shift = s/2 centres the blocks on it, showing how much of the difference is that offset.
 */
function areaAverage(d: Float32Array, w: number, h: number, s: number, shift: number): Float64Array {
  const W = Math.ceil(w / s);
  const H = Math.ceil(h / s);
  const sum = new Float64Array(W * H);
  const n = new Float64Array(W * H);
  for (let y = 0; y < h; y++) {
    const oy = Math.min(H - 1, Math.floor((y + shift) / s)) * W;
    for (let x = 0; x < w; x++) {
      const o = oy + Math.min(W - 1, Math.floor((x + shift) / s));
      sum[o] += d[y * w + x]!;
      n[o]++;
    }
  }
  for (let i = 0; i < sum.length; i++) sum[i] /= n[i]!;
  return sum;
}

/** Mean |a − b| as a fraction of b's value range (NaN padding skipped). */
function meanAbsOfRange(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let lo = Infinity,
    hi = -Infinity,
    sum = 0,
    count = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) continue;
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
    sum += d;
    count++;
  }
  return sum / count / (hi - lo);
}

// file, minSide → level and size; measured mean |reduced − area average| / range: block-aligned, block-centred
const CASES = [
  { file: 'CR/RG1_J2KI.dcm', minSide: 224, level: 3, width: 231, height: 245, aligned: 0.0098, centred: 0.0017 },
  { file: 'CR/RG1_J2KI.dcm', minSide: 256, level: 2, width: 461, height: 489, aligned: 0.0054, centred: 0.002 },
  { file: 'CR/RG3_J2KR.dcm', minSide: 224, level: 2, width: 440, height: 440, aligned: 0.004, centred: 0.0018 },
  { file: 'CR/RG3_J2KI.dcm', minSide: 224, level: 2, width: 440, height: 440, aligned: 0.0037, centred: 0.0013 },
  { file: 'MR/MR2_J2KR.dcm', minSide: 256, level: 2, width: 256, height: 256, aligned: 0.0178, centred: 0.0105 },
] as const;

for (const c of CASES) {
  test(
    `${c.file} with minSide ${c.minSide} decodes at level ${c.level} (${c.width}×${c.height}), close to an area ` +
      'average of the full decode',
    async () => {
      const full = await readDicomImage(zoo(c.file));
      const reduced = await readDicomImage(zoo(c.file), { minSide: c.minSide });
      assert.equal(full.level, 0);
      assert.equal(reduced.level, c.level);
      assert.deepEqual([reduced.width, reduced.height], [c.width, c.height]);
      assert.equal(reduced.data.length, c.width * c.height);
      assert.ok(Math.min(reduced.width, reduced.height) >= c.minSide);
      assert.ok(Math.min(reduced.width, reduced.height) / 2 < c.minSide, 'one level further would be below minSide');
      // the same header, so the same Modality LUT, window and MONOCHROME1 rule downstream
      assert.deepEqual(reduced.header, full.header);
      assert.equal(reduced.invert, full.invert);
      const s = 2 ** c.level;
      // Bounds: 3 % of the range block-aligned (measured ≤ 1.8 %), 1.5 % block-centred (measured ≤ 1.1 %).
      const aligned = meanAbsOfRange(reduced.data, areaAverage(full.data, full.width, full.height, s, 0));
      const centred = meanAbsOfRange(reduced.data, areaAverage(full.data, full.width, full.height, s, s / 2));
      assert.ok(aligned < 0.03, `aligned ${aligned} (measured ${c.aligned})`);
      assert.ok(centred < 0.015, `centred ${centred} (measured ${c.centred})`);
    },
  );
}

test("the level never exceeds the codestream's decomposition levels, and small or unset minSide changes nothing", async () => {
  const file = zoo('CR/RG3_J2KR.dcm');
  const levels = j2kDecompositionLevels(frameBytes(file).data);
  assert.ok(levels !== undefined && levels >= 2, `levels ${levels}`);
  const tiny = await readDicomImage(file, { minSide: 1 });
  assert.equal(tiny.level, levels);
  assert.equal(tiny.width, Math.ceil(1760 / 2 ** levels));
  const h = tiny.header;
  assert.equal(reductionLevel(h, levels, undefined), 0);
  assert.equal(reductionLevel(h, levels, 0), 0);
  assert.equal(reductionLevel(h, levels, -5), 0);
  assert.equal(reductionLevel(h, levels, 880), 1); // exactly half the shorter side still qualifies
  assert.equal(reductionLevel(h, levels, 881), 0);
  assert.equal(reductionLevel(h, 1, 100), 1);
  assert.equal(reductionLevel(h, undefined, 100), 0);
  // no reduction possible (1760 < 2 × 1000): the very same values as without minSide
  const full = await readDicomImage(file);
  const same = await readDicomImage(file, { minSide: 1000 });
  assert.equal(same.level, 0);
  assert.deepEqual(same.data, full.data);
  // other syntaxes ignore minSide
  const native = await readDicomImage(zoo('MR/MR2_UNCR.dcm'), { minSide: 64 });
  assert.deepEqual([native.level, native.width], [0, 1024]);
});

test('HTJ2K (OpenJPH) decodes at a reduced level too', async () => {
  const src = await readDicomImage(zoo('MR/MR2_UNCR.dcm')); // 1024×1024, 12 bits stored, slope ≠ 1
  const { rescaleIntercept: b, rescaleSlope: m } = src.header;
  const stored = Uint16Array.from(src.data, (v) => Math.round((v - b) / m));
  const stream = await encodeFrame('@cornerstonejs/codec-openjph', 'HTJ2KEncoder', stored, 1024, 1024, 12, (e) =>
    e.setQuality!(true, 0),
  );
  const body = Buffer.concat([
    imageElements({ rows: 1024, columns: 1024, samples: 1, photometric: 'MONOCHROME2', bits: 16, stored: 12 }),
    encapsulated([stream]),
  ]);
  const f = join(dir, 'htj2k-1024.dcm');
  await writeFile(f, part10('1.2.840.10008.5.1.4.1.1.7', '1.2.840.10008.1.2.4.201', body));
  const full = await readDicomImage(f);
  assert.deepEqual(Array.from(full.data), Array.from(stored));
  const reduced = await readDicomImage(f, { minSide: 200 });
  assert.equal(reduced.level, 2);
  assert.deepEqual([reduced.width, reduced.height], [256, 256]);
  const err = meanAbsOfRange(reduced.data, areaAverage(full.data, 1024, 1024, 4, 2));
  assert.ok(err < 0.015, `centred ${err}`); // same 5/3 wavelet as MR2_J2KR: ≈1 %
});

test("the pipeline's tensor of a large lossless JPEG 2000 MR is close to the uncompressed file's full-size one", async () => {
  // MR2_J2KR and MR2_UNCR hold the same 1024×1024 pixels (reference.test.ts): one decodes at level 2 (256×256)
  // for a 256 resize, the other is resized from full resolution. Normalised values span [−1, 1].
  const pre = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);
  assert.equal((await readDicomImage(zoo('MR/MR2_J2KR.dcm'), { minSide: resizeTarget(pre) })).level, 2);
  const reduced = await loadImageTensor(zoo('MR/MR2_J2KR.dcm'), pre);
  const full = await loadImageTensor(zoo('MR/MR2_UNCR.dcm'), pre);
  assert.equal(reduced.length, full.length);
  let sum = 0;
  for (let i = 0; i < full.length; i++) sum += Math.abs(reduced[i]! - full[i]!);
  const mean = sum / full.length;
  // measured 0.045 (2.3 % of the range), mostly the wavelet grid's 3/8-pixel offset at 256 px; bound 0.06
  assert.ok(mean < 0.06, `mean |Δ| ${mean}`);
});

test("a 30-frame JPEG ultrasound hands the codec only the selected frame's bytes", async () => {
  const file = zoo('US/examples_ybr_color.dcm');
  const { data, fragments } = frameBytes(file, 15, true);
  assert.equal(fragments.length, 30);
  assert.equal(data.length, fragments[15]);
  assert.deepEqual([data[0], data[1]], [0xff, 0xd8]); // one JPEG stream, SOI …
  const eoi = data.length - 2 - (data[data.length - 1] === 0 ? 1 : 0); // (… EOI, maybe padded to even length)
  assert.deepEqual([data[eoi], data[eoi + 1]], [0xff, 0xd9]);
  const img = await readDicomImage(file);
  assert.equal(img.frameIndex, 15);
  assert.deepEqual([img.width, img.height, img.channels], [320, 240, 3]);
});
