/** Bad and non-image input: truncated files, unsupported syntaxes, corrupt frames, non-image objects, sniffing. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAttuneError } from '../../errors';
import { tempDir, SHARED } from '../../testing/fixtures';
import { looksLikeDicom, readDicomHeader, readDicomImage } from './index';
import { element, floatBytes, part10, retagged, zoo } from './test-dicom';

let dir: string;
before(() => {
  dir = tempDir('attune-dicom-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, data: Uint8Array): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, data);
  return f;
}

/** Asserts `p` rejects with AttuneError `code`, its message holding `words` and no patient identifier. */
async function rejectsWith(p: Promise<unknown>, code: string, words: RegExp, patientId?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isAttuneError(e), `AttuneError expected, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, words);
    assert.ok(e.hint.length > 0);
    if (patientId) assert.ok(!e.message.includes(patientId) && !e.hint.includes(patientId), 'no patient id');
    return true;
  });
}

test('a file cut inside its pixel data: header reads (it stops before pixels), image is truncated', async () => {
  const src = zoo('CT/CT_small.dcm');
  const bytes = readFileSync(src);
  const f = await put('cut.dcm', bytes.subarray(0, Math.floor(bytes.length * 0.8)));
  const h = await readDicomHeader(f);
  assert.equal(h.kind, 'image');
  await rejectsWith(readDicomImage(f), 'truncated', /truncated/, h.patientId);
});

test('a compressed file cut inside its codestream, and one cut inside its header, are truncated', async () => {
  const j2k = readFileSync(zoo('MR/MR2_J2KR.dcm'));
  await rejectsWith(readDicomImage(await put('j2k.dcm', j2k.subarray(0, j2k.length - 5000))), 'truncated', /truncated/);
  const head = readFileSync(zoo('CT/CT_small.dcm')).subarray(0, 600);
  await rejectsWith(readDicomHeader(await put('head.dcm', head)), 'truncated', /truncated/);
});

test('an unsupported transfer syntax is named', async () => {
  const f = await put('mpeg.dcm', retagged(zoo('MR/MR_small.dcm'), '1.2.840.10008.1.2.4.102'));
  const h = await readDicomHeader(f);
  assert.equal(h.transferSyntaxName, 'MPEG-4 AVC/H.264 video');
  assert.equal(h.decodable, false);
  await rejectsWith(readDicomImage(f), 'unsupported-transfer-syntax', /MPEG-4 AVC\/H\.264/);
  const odd = await put('odd.dcm', retagged(zoo('MR/MR_small.dcm'), '1.2.3.4.5'));
  await rejectsWith(readDicomImage(odd), 'unsupported-transfer-syntax', /unknown transfer syntax 1\.2\.3\.4\.5/);
});

test('a corrupt JPEG 2000 frame is unreadable, not a crash', async () => {
  const bytes = Buffer.from(readFileSync(zoo('MR/MR_small_jp2klossless.dcm')));
  const soc = bytes.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51])); // codestream start + SIZ marker
  bytes.fill(0xff, soc + 4, soc + 40); // image size and components destroyed
  await rejectsWith(readDicomImage(await put('bad.dcm', bytes)), 'unreadable', /corrupt/);
});

test('non-image objects are skipped with a reason: SR, DICOMDIR, presentation state, no pixel data', async () => {
  const cases: [string, string, RegExp][] = [
    ['1.2.840.10008.5.1.4.1.1.88.11', 'SR', /structured report/],
    ['1.2.840.10008.1.3.10', 'DICOMDIR', /DICOMDIR/],
    ['1.2.840.10008.5.1.4.1.1.11.1', 'PS', /presentation state/],
    ['1.2.840.10008.5.1.4.1.1.104.1', 'PDF', /encapsulated PDF/],
    ['1.2.840.10008.5.1.4.1.1.2', 'CT', /no pixel data/], // a CT image class whose pixel data is missing
  ];
  for (const [sop, name, reason] of cases) {
    const body = Buffer.concat([
      element(0x0008, 0x0016, 'UI', sop),
      element(0x0008, 0x0060, 'CS', name === 'CT' ? 'CT' : 'OT'),
      element(0x0010, 0x0020, 'LO', 'PATIENT-123'),
    ]);
    const f = await put(`${name}.dcm`, part10(sop, '1.2.840.10008.1.2.1', body));
    const h = await readDicomHeader(f);
    assert.equal(h.kind, 'skip', name);
    assert.match(h.skipReason ?? '', reason);
    await rejectsWith(readDicomImage(f), 'not-an-image', reason, 'PATIENT-123');
  }
});

test('recognised by content: without extension, and a bare implicit-VR dataset without preamble', async () => {
  const src = readFileSync(zoo('MR/MR_small_implicit.dcm'));
  const noExt = await put('scan0001', src);
  assert.ok(looksLikeDicom(src.subarray(0, 1024)));
  assert.equal((await readDicomHeader(noExt)).rows, 64);
  const bare = src.subarray(144 + src.readUInt32LE(140)); // preamble, 'DICM' and file meta removed
  assert.ok(looksLikeDicom(bare.subarray(0, 1024)), 'bare implicit VR dataset');
  const f = await put('bare', bare);
  const h = await readDicomHeader(f);
  assert.equal(h.transferSyntaxName, 'Implicit VR little endian');
  const want = (await readDicomImage(noExt)).data;
  assert.ok(floatBytes((await readDicomImage(f)).data).equals(floatBytes(want)));
});

test('a PNG is not DICOM', async () => {
  const fh = await open(join(SHARED, 'datasets/busi-ultrasound/benign/benign (1).png'), 'r');
  const head = Buffer.alloc(1024);
  await fh.read(head, 0, 1024, 0);
  await fh.close();
  assert.equal(looksLikeDicom(head), false);
  await rejectsWith(readDicomHeader(await put('img.dcm', head)), 'not-dicom', /not a DICOM file/);
  await rejectsWith(readDicomImage(await put('img2.dcm', head)), 'not-dicom', /not a DICOM file/);
});

test('a frame that does not exist is refused with the valid range', async () => {
  await rejectsWith(readDicomImage(zoo('MR/emri_small.dcm'), { frame: 10 }), 'bad-frame', /10 frame/);
  await rejectsWith(readDicomImage(zoo('MR/emri_small.dcm'), { frame: -1 }), 'bad-frame', /frame -1/);
});
