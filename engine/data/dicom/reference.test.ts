/**
 * Every DICOM in dicom-zoo (and a sample of ct-contrast-dicom) decodes to what independent decoders make of it.
 * fixtures/reference.json comes from fixtures/make_reference.py (dcmtk / gdcm transcode to uncompressed, then
 * pydicom + numpy): per file and frame, the sha256 of the float32 tensor, its NaN count and mean, and for lossy
 * syntaxes 64 sampled values. Lossless syntaxes must match bit for bit; lossy ones sample by sample within a stated
 * tolerance, since two JPEG decoders may round their inverse DCT differently (measured over whole images: JPEG
 * 2000 and 8-bit JPEG 0, 12-bit JPEG at most 1 stored unit, mean 0.09).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readDicomImage } from './index';
import { DATASETS, ZOO, floatBytes } from './test-dicom';

interface Reference {
  tool: string;
  length: number;
  sha256: string;
  nan: number;
  mean: number | null;
  samples: [number, number | null][];
}
const REF = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/reference.json'), 'utf8')) as Record<
  string,
  Record<string, Reference>
>;

/** Largest difference allowed per sample for lossy syntaxes, in stored units (same decoder family → 0 expected). */
const LOSSY_TOLERANCE: Record<string, number> = {
  '1.2.840.10008.1.2.4.50': 2, // JPEG baseline: libjpeg-turbo vs dcmtk's IJG libjpeg, integer IDCTs differ by ±1
  '1.2.840.10008.1.2.4.51': 2, // JPEG extended 12-bit: pdf.js-style IDCT vs IJG (measured max 1)
  '1.2.840.10008.1.2.4.91': 1, // JPEG 2000 lossy: OpenJPEG on both sides (measured 0)
};

test('the reference covers every file in dicom-zoo', () => {
  const files = readdirSync(ZOO, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.dcm'));
  assert.equal(files.length, 49);
  for (const f of files) assert.ok(REF[`dicom-zoo/${f}`], `no reference for ${f}`);
});

for (const [rel, frames] of Object.entries(REF)) {
  test(`${rel} decodes to the reference decoders' values`, async () => {
    for (const [frame, ref] of Object.entries(frames)) {
      const img = await readDicomImage(join(DATASETS, rel), { frame: Number(frame) });
      const where = `${rel} frame ${frame}`;
      assert.equal(img.frameIndex, Number(frame));
      assert.equal(img.data.length, ref.length, `${where}: length`);
      assert.equal(img.width * img.height * img.channels, ref.length, `${where}: shape`);
      const nan = img.data.reduce((n, v) => n + (Number.isNaN(v) ? 1 : 0), 0);
      assert.equal(nan, ref.nan, `${where}: padding pixels (NaN)`);
      const sha = createHash('sha256').update(floatBytes(img.data)).digest('hex');
      const tolerance = img.header.lossy ? LOSSY_TOLERANCE[img.header.transferSyntaxUid] : undefined;
      if (tolerance === undefined) {
        assert.equal(sha, ref.sha256, `${where}: ${img.header.transferSyntaxName} must be bit-identical`);
        continue;
      }
      for (const [p, v] of ref.samples) {
        const ok = v === null ? Number.isNaN(img.data[p]) : Math.abs(img.data[p]! - v) <= tolerance;
        assert.ok(ok, `${where}: pixel ${p} ${img.data[p]} vs ${v}`);
      }
      let sum = 0;
      for (const v of img.data) if (!Number.isNaN(v)) sum += v;
      assert.ok(Math.abs(sum / (img.data.length - nan) - ref.mean!) <= tolerance / 4, `${where}: mean`);
    }
  });
}
