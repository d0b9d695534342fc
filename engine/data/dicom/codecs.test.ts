/**
 * Transfer syntaxes the zoo has no file of (deflate, HTJ2K, JPEG-LS near-lossless), made here from a real MR frame
 * with real encoders (node:zlib, Cornerstone's OpenJPH and CharLS encoder builds), then read back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../testing/fixtures';
import { readDicomHeader, readDicomImage } from './index';
import { encapsulated, encodeFrame, floatBytes, imageElements, part10, retagged, zoo } from './test-dicom';

let dir: string;
let frame: Uint16Array; // emri_small frame 5: 64×64, 12 bits stored, unsigned, no rescale
before(async () => {
  dir = tempDir('attune-dicom-codecs-');
  const img = await readDicomImage(zoo('MR/emri_small.dcm'), { frame: 5 });
  frame = Uint16Array.from(img.data);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function encapsulatedFile(name: string, ts: string, stream: Uint8Array): Promise<string> {
  const body = Buffer.concat([
    imageElements({ rows: 64, columns: 64, samples: 1, photometric: 'MONOCHROME2', bits: 16, stored: 12 }),
    encapsulated([stream]),
  ]);
  const f = join(dir, name);
  await writeFile(f, part10('1.2.840.10008.5.1.4.1.1.7', ts, body));
  return f;
}

test('deflated explicit VR little endian reads like the original', async () => {
  const f = join(dir, 'deflate.dcm');
  await writeFile(
    f,
    retagged(zoo('MR/MR_small.dcm'), '1.2.840.10008.1.2.1.99', (b) => deflateRawSync(b)),
  );
  const h = await readDicomHeader(f);
  assert.equal(h.transferSyntaxName, 'Deflated explicit VR little endian');
  assert.equal(h.rows, 64);
  const want = floatBytes((await readDicomImage(zoo('MR/MR_small.dcm'))).data);
  assert.ok(floatBytes((await readDicomImage(f)).data).equals(want));
});

test('HTJ2K lossless (OpenJPH) decodes bit-exact', async () => {
  const stream = await encodeFrame('@cornerstonejs/codec-openjph', 'HTJ2KEncoder', frame, 64, 64, 12, (e) =>
    e.setQuality!(true, 0),
  );
  const f = await encapsulatedFile('htj2k.dcm', '1.2.840.10008.1.2.4.201', stream);
  const img = await readDicomImage(f);
  assert.equal(img.header.transferSyntaxName, 'HTJ2K (lossless)');
  assert.deepEqual(Array.from(img.data), Array.from(frame));
});

test('JPEG-LS near-lossless (NEAR=3) stays within 3 of every stored value; lossless is exact', async () => {
  const near = await encodeFrame('@cornerstonejs/codec-charls', 'JpegLSEncoder', frame, 64, 64, 12, (e) =>
    e.setNearLossless!(3),
  );
  const img = await readDicomImage(await encapsulatedFile('jls-near.dcm', '1.2.840.10008.1.2.4.81', near));
  assert.equal(img.header.lossy, true);
  let maxErr = 0;
  for (let i = 0; i < frame.length; i++) maxErr = Math.max(maxErr, Math.abs(img.data[i]! - frame[i]!));
  assert.ok(maxErr <= 3 && maxErr > 0, `max error ${maxErr}`);
  const exact = await encodeFrame('@cornerstonejs/codec-charls', 'JpegLSEncoder', frame, 64, 64, 12);
  const back = await readDicomImage(await encapsulatedFile('jls.dcm', '1.2.840.10008.1.2.4.80', exact));
  assert.deepEqual(Array.from(back.data), Array.from(frame));
});
