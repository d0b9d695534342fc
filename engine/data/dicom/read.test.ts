/** readDicomHeader / readDicomImage on real files: header, Modality LUT by hand, colour, frames, lossless twins. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDicomHeader, readDicomImage } from './index';
import { tempDir } from '../../testing/fixtures';
import { DATASETS, element, floatBytes, imageElements, part10, zoo } from './test-dicom';

const ct = (rel: string): string => join(DATASETS, 'ct-contrast-dicom', rel);

/**
 * Stored value `i` read straight from the file's bytes: the pixel data element is the last (7FE0,0010) tag;
 * explicit VR puts 'OW' + 2 reserved bytes + a 4-byte length before the data, implicit VR a 4-byte length.
 */
function rawStored(file: string, i: number, bitsStored: number, signed: boolean): number {
  const bytes = readFileSync(file);
  const at = bytes.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  const explicit = bytes.toString('latin1', at + 4, at + 6) === 'OW';
  const v = bytes.readUInt16LE(at + (explicit ? 12 : 8) + 2 * i) & (2 ** bitsStored - 1);
  return signed && v >= 2 ** (bitsStored - 1) ? v - 2 ** bitsStored : v;
}

test('pixel values equal stored value × slope + intercept computed by hand from the raw bytes', async () => {
  const cases = [
    { file: zoo('MR/MR2_UNCR.dcm'), slope: 3.774114, intercept: 0.000061 }, // non-trivial slope, 12-bit unsigned
    { file: zoo('CT/CT_small.dcm'), slope: 1, intercept: -1024 }, // signed 16-bit
    { file: ct('CONTRAST_1/ID_0000_AGE_0060_CONTRAST_1_CT.dcm'), slope: 1, intercept: -1024 }, // '001.000000E+00'
    { file: ct('CONTRAST_0/ID_0055_AGE_0071_CONTRAST_0_CT.dcm'), slope: 1.0002441, intercept: -1024 },
  ];
  for (const { file, slope, intercept } of cases) {
    const img = await readDicomImage(file);
    const h = img.header;
    assert.equal(h.rescaleSlope, slope, file);
    assert.equal(h.rescaleIntercept, intercept, file);
    const n = img.width * img.height;
    for (const i of [0, 1, Math.floor(n / 3), Math.floor(n / 2) + 17, n - 1]) {
      const stored = rawStored(file, i, h.bitsStored, h.pixelRepresentation === 1);
      const want = stored === h.pixelPadding ? NaN : Math.fround(stored * slope + intercept);
      assert.equal(img.data[i], want, `${file} pixel ${i} (stored ${stored})`);
    }
  }
});

test('header: sizes, syntax names, rescale written many ways, first window value, identifiers kept raw', async () => {
  const mr = await readDicomHeader(zoo('MR/MR2_J2KR.dcm'));
  assert.equal(mr.kind, 'image');
  assert.equal(mr.modality, 'MR');
  assert.deepEqual([mr.rows, mr.columns, mr.frames, mr.bitsStored], [1024, 1024, 1, 12]);
  assert.equal(mr.transferSyntaxName, 'JPEG 2000 (lossless)');
  assert.equal(mr.lossy, false);
  assert.equal(mr.rescaleSlope, 3.774114);

  const sci = await readDicomHeader(ct('CONTRAST_1/ID_0000_AGE_0060_CONTRAST_1_CT.dcm')); // implicit VR
  assert.equal(sci.rescaleSlope, 1); // written '001.000000E+00'
  assert.equal(sci.transferSyntaxName, 'Implicit VR little endian');
  assert.ok(sci.patientId && sci.studyInstanceUid && sci.seriesInstanceUid, 'identifiers are read for hashing');

  const two = await readDicomHeader(ct('CONTRAST_1/ID_0026_AGE_0070_CONTRAST_1_CT.dcm')); // WindowCenter 30\-550
  assert.deepEqual(two.window?.center, 30);
  assert.equal(two.pixelRepresentation, 0);

  const padded = await readDicomHeader(zoo('CT/CT_small.dcm'));
  assert.equal(padded.pixelPadding, -2000); // SS in a signed image
  assert.equal(padded.pixelRepresentation, 1);

  const lossy = await readDicomHeader(zoo('NM/JPGExtended.dcm'));
  assert.equal(lossy.transferSyntaxName, 'JPEG extended (lossy, 12-bit)');
  assert.equal(lossy.lossy, true);
});

test('MONOCHROME1 (the three CR files) is flagged for inversion, not inverted', async () => {
  for (const f of ['CR/RG1_J2KI.dcm', 'CR/RG3_J2KI.dcm', 'CR/RG3_J2KR.dcm']) {
    const img = await readDicomImage(zoo(f));
    assert.equal(img.header.photometric, 'MONOCHROME1');
    assert.equal(img.invert, true, f);
    assert.equal(img.channels, 1);
  }
  assert.equal((await readDicomImage(zoo('MR/MR_small.dcm'))).invert, false);
});

test('YBR_ICT / YBR_RCT JPEG 2000 come out RGB: the lossless one equals the uncompressed RGB original', async () => {
  const rct = await readDicomImage(zoo('US/US1_J2KR.dcm'));
  const rgb = await readDicomImage(zoo('US/US1_UNCR.dcm'));
  assert.equal(rct.header.photometric, 'YBR_RCT');
  assert.equal(rct.channels, 3);
  assert.equal(rct.colourMax, 255);
  assert.deepEqual(floatBytes(rct.data), floatBytes(rgb.data));
  const ict = await readDicomImage(zoo('US/US1_J2KI.dcm'));
  assert.deepEqual(floatBytes(ict.data), floatBytes((await readDicomImage(zoo('US/US1_UNCI.dcm'))).data));
});

test('YBR_FULL_422 JPEG baseline: 30 frames, middle one by default, converted to RGB once', async () => {
  const img = await readDicomImage(zoo('US/examples_ybr_color.dcm'));
  assert.equal(img.header.frames, 30);
  assert.equal(img.frameIndex, 15);
  assert.equal(img.channels, 3);
  assert.equal(img.header.photometric, 'YBR_FULL_422');
  // Grey ultrasound content stays grey in RGB (R≈G≈B); converting YBR twice would tint it.
  let grey = 0;
  for (let i = 0; i < img.data.length; i += 3) {
    const [r, g, b] = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
    if (Math.max(r, g, b) - Math.min(r, g, b) <= 3) grey++;
  }
  assert.ok(grey / (img.data.length / 3) > 0.9, 'mostly grey pixels');
  const first = await readDicomImage(zoo('US/examples_ybr_color.dcm'), { frame: 0 });
  assert.equal(first.frameIndex, 0);
  assert.notDeepEqual(floatBytes(first.data), floatBytes(img.data));
});

test('palette colour becomes RGB through the LUTs (plain 8-bit index, segmented 16-bit)', async () => {
  const pal = await readDicomImage(zoo('US/OBXXXX1A.dcm'));
  assert.equal(pal.channels, 3);
  assert.equal(pal.colourMax, 65535); // 16-bit LUT entries
  const seg = await readDicomImage(zoo('US/gdcm-US-ALOKA-16.dcm'));
  assert.equal(seg.channels, 3);
  assert.deepEqual(floatBytes(seg.data), floatBytes((await readDicomImage(zoo('US/gdcm-US-ALOKA-16_big.dcm'))).data));
});

test('lossless encodings of one image give bit-identical float tensors to the uncompressed original', async () => {
  const twins: [string, string[], number[]][] = [
    [
      'MR/MR_small.dcm',
      [
        'MR_small_RLE',
        'MR_small_bigendian',
        'MR_small_expb',
        'MR_small_implicit',
        'MR_small_jp2klossless',
        'MR_small_jpeg_ls_lossless',
        'MR_small_padded',
      ].map((f) => `MR/${f}.dcm`),
      [0],
    ],
    [
      'MR/emri_small.dcm',
      ['emri_small_RLE', 'emri_small_big_endian', 'emri_small_jpeg_2k_lossless', 'emri_small_jpeg_ls_lossless'].map(
        (f) => `MR/${f}.dcm`,
      ),
      [0, 5, 9],
    ],
    ['CT/693_UNCR.dcm', ['CT/693_J2KR.dcm'], [0]],
    ['MR/MR2_UNCR.dcm', ['MR/MR2_J2KR.dcm'], [0]],
    ['US/OBXXXX1A.dcm', ['US/OBXXXX1A_expb.dcm', 'US/OBXXXX1A_rle.dcm'], [0]],
  ];
  for (const [original, copies, frames] of twins) {
    for (const frame of frames) {
      const want = floatBytes((await readDicomImage(zoo(original), { frame })).data);
      for (const c of copies) {
        const got = await readDicomImage(zoo(c), { frame });
        assert.ok(!got.header.lossy, c);
        assert.ok(floatBytes(got.data).equals(want), `${c} frame ${frame} differs from ${original}`);
      }
    }
  }
});

test('signed pixels and padding: CT padding value -2000 becomes NaN, the rest is Hounsfield', async () => {
  const img = await readDicomImage(zoo('CT/693_UNCR.dcm'));
  let nan = 0,
    min = Infinity;
  for (const v of img.data)
    if (Number.isNaN(v)) nan++;
    else min = Math.min(min, v);
  assert.ok(nan > 1000, 'the area outside the scan field is padding');
  assert.equal(min, -1024); // air, once padding is gone
});

test('native YBR_FULL and YBR_FULL_422 (made from a real RGB ultrasound) convert back to its RGB', async () => {
  const src = await readDicomImage(zoo('US/US1_UNCR.dcm'));
  const { width: w, height: h } = src;
  const rgb = src.data;
  // Forward JFIF transform (the inverse of PS3.3 C.7.6.3.1.2), rounded to 8 bits as an encoder stores it.
  const ybr = new Uint8Array(w * h * 3);
  for (let i = 0; i < rgb.length; i += 3) {
    const [r, g, b] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
    ybr[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    ybr[i + 1] = Math.min(255, Math.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128));
    ybr[i + 2] = Math.min(255, Math.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128));
  }
  // 4:2:2: Y1 Y2 Cb Cr per horizontal pair, chroma averaged over the pair.
  const sub = new Uint8Array(w * h * 2);
  for (let p = 0, o = 0; p < w * h; p += 2, o += 4) {
    sub[o] = ybr[3 * p]!;
    sub[o + 1] = ybr[3 * p + 3]!;
    sub[o + 2] = Math.round((ybr[3 * p + 1]! + ybr[3 * p + 4]!) / 2);
    sub[o + 3] = Math.round((ybr[3 * p + 2]! + ybr[3 * p + 5]!) / 2);
  }
  const dir = tempDir('attune-dicom-ybr-');
  try {
    for (const [photometric, pixels] of [
      ['YBR_FULL', ybr],
      ['YBR_FULL_422', sub],
    ] as const) {
      const body = Buffer.concat([
        imageElements({ rows: h, columns: w, samples: 3, photometric, bits: 8 }),
        element(0x7fe0, 0x0010, 'OB', pixels),
      ]);
      const f = join(dir, `${photometric}.dcm`);
      writeFileSync(f, part10('1.2.840.10008.5.1.4.1.1.7', '1.2.840.10008.1.2.1', body));
      const img = await readDicomImage(f);
      assert.equal(img.channels, 3);
      let maxErr = 0,
        sumErr = 0,
        greyExact = true;
      for (let i = 0; i < rgb.length; i++) {
        const err = Math.abs(img.data[i]! - rgb[i]!);
        maxErr = Math.max(maxErr, err);
        sumErr += err;
      }
      // A pair of grey pixels has neutral chroma (128) in both forms, so it must come back exactly.
      const grey = (q: number): boolean => rgb[3 * q] === rgb[3 * q + 1] && rgb[3 * q] === rgb[3 * q + 2];
      for (let p = 0; p < w * h; p += 2) {
        if (!grey(p) || !grey(p + 1)) continue;
        for (let k = 0; k < 6; k++) if (img.data[3 * p + k] !== rgb[3 * p + k]) greyExact = false;
      }
      assert.ok(greyExact, `${photometric}: grey pixels come back exactly`);
      if (photometric === 'YBR_FULL') assert.ok(maxErr <= 2, `${photometric}: max error ${maxErr}`);
      assert.ok(sumErr / rgb.length < 1, `${photometric}: mean error ${sumErr / rgb.length}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the header of every zoo image says image: a short header read never concludes "no pixel data"', async () => {
  const root = join(DATASETS, 'dicom-zoo');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.dcm'));
  assert.ok(files.length >= 49);
  for (const f of files) {
    const h = await readDicomHeader(join(root, f));
    assert.equal(h.kind, 'image', `${f}: ${h.skipReason}`);
  }
  // gdcm-US-ALOKA-16 carries 98 KiB of segmented palettes before its pixel data, beyond the first header read
  assert.equal((await readDicomHeader(zoo('US/gdcm-US-ALOKA-16.dcm'))).rows, 480);
});
