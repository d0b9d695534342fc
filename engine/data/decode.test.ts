import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { isAttuneError } from '../errors';
import { defaultPreprocessing, IMAGENET_NORMALISATION, type Preprocessing } from '../preprocessing';
import { decodeEvalRgb, loadImageTensor } from './image';
import { encodeHugePngHeader, encodePng, encodeTiff } from './test-fixtures';

let dir: string;
const W = 8;
const H = 8;
// a full-range 16-bit ramp and an 8-bit pattern
const ramp16 = Array.from({ length: W * H }, (_, i) => Math.round((i / (W * H - 1)) * 65535));
const pre: Preprocessing = { ...defaultPreprocessing(W, [0, 0, 0], [1, 1, 1]), resize: 'squash' };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'attune-decode-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, data: Buffer): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, data);
  return f;
}

/** channel c of pixel i of an eval view, 0..255 (float views scaled, not rounded) */
const px = (img: { data: Uint8Array | Float32Array }, i: number, c: number) =>
  img.data instanceof Float32Array ? img.data[i * 3 + c] * 255 : img.data[i * 3 + c];
const fullRange: Preprocessing = { ...pre, values: { ...pre.values, voi: { kind: 'full-range' } } };

test('16-bit grey PNG and TIFF decode to float at full precision (v/65535 with the full-range rule, no 8-bit step)', async () => {
  for (const f of [
    await put('g16.png', encodePng(W, H, 'grey', 16, ramp16)),
    await put('g16.tif', encodeTiff(W, H, 1, 16, ramp16)),
  ]) {
    const img = await decodeEvalRgb(f, fullRange);
    assert.ok(img.data instanceof Float32Array, 'float samples');
    for (const i of [0, 17, W * H - 1]) {
      assert.equal(img.data[i * 3], Math.fround(ramp16[i] / 65535), `${path.basename(f)} pixel ${i}`);
      assert.equal(px(img, i, 1), px(img, i, 0));
      assert.equal(px(img, i, 2), px(img, i, 0));
    }
    // two neighbouring 16-bit levels stay distinct (an 8-bit step would merge them)
    const fine = await put(
      `fine-${path.basename(f)}`,
      encodePng(
        W,
        H,
        'grey',
        16,
        Array.from({ length: W * H }, (_, i) => 30000 + (i % 2)),
      ),
    );
    const v = await decodeEvalRgb(fine, fullRange);
    assert.notEqual(v.data[0], v.data[3]);
  }
});

test('16-bit RGB TIFF and grey+alpha 16-bit PNG decode; the default percentile window stretches a narrow range', async () => {
  const narrow = Array.from({ length: W * H }, (_, i) => 1000 + i * 10); // a scanner using few of the 65536 levels
  const rgb = await put(
    'rgb16.tif',
    encodeTiff(
      W,
      H,
      3,
      16,
      narrow.flatMap((v) => [v, v, v]),
    ),
  );
  const full = await decodeEvalRgb(rgb, fullRange);
  assert.ok(px(full, W * H - 1, 0) <= 7, 'full range keeps it dark');
  const win = await decodeEvalRgb(rgb, pre);
  assert.equal(px(win, 0, 0), 0);
  assert.equal(px(win, W * H - 1, 0), 255);
  const ga = await put(
    'ga16.png',
    encodePng(
      W,
      H,
      'grey-alpha',
      16,
      ramp16.flatMap((v) => [v, 0]),
    ),
  );
  const img = await decodeEvalRgb(ga, fullRange);
  assert.equal(px(img, W * H - 1, 1), 255, 'alpha dropped, not composited (alpha is 0 everywhere)');
});

test('grey, grey+alpha, RGBA and palette PNGs become RGB; alpha is dropped', async () => {
  const grey = await decodeEvalRgb(await put('g.png', encodePng(W, H, 'grey', 8, Array(W * H).fill(77))), pre);
  assert.deepEqual([px(grey, 5, 0), px(grey, 5, 1), px(grey, 5, 2)], [77, 77, 77]);
  const ga = await decodeEvalRgb(
    await put(
      'ga.png',
      encodePng(
        W,
        H,
        'grey-alpha',
        8,
        Array(W * H)
          .fill(0)
          .flatMap(() => [90, 10]),
      ),
    ),
    pre,
  );
  assert.deepEqual([px(ga, 5, 0), px(ga, 5, 1), px(ga, 5, 2)], [90, 90, 90]);
  const rgba = await decodeEvalRgb(
    await put(
      'rgba.png',
      encodePng(
        W,
        H,
        'rgba',
        8,
        Array(W * H)
          .fill(0)
          .flatMap(() => [200, 100, 50, 0]),
      ),
    ),
    pre,
  );
  assert.deepEqual([px(rgba, 5, 0), px(rgba, 5, 1), px(rgba, 5, 2)], [200, 100, 50]);
  const pal = await decodeEvalRgb(
    await put(
      'pal.png',
      encodePng(
        W,
        H,
        'palette',
        8,
        Array.from({ length: W * H }, (_, i) => i % 2),
        [255, 0, 0, 0, 0, 255],
      ),
    ),
    { ...pre, resize: 'squash' },
  );
  assert.deepEqual([px(pal, 0, 0), px(pal, 0, 2), px(pal, 1, 0), px(pal, 1, 2)], [255, 0, 0, 255]);
});

test('EXIF orientation is applied; GIF and WebP decode; tensor is normalised CHW', async () => {
  const base = sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } });
  const rotated = await put('rot.jpg', await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer());
  const tall = await decodeEvalRgb(rotated, { ...pre, size: 20, resize: 'pad' });
  // 20×40 after rotation, padded left/right with the mean colour (0 here)
  assert.equal(px(tall, 0, 0), 0, 'padding at the left edge');
  assert.ok(px(tall, 10 * 20 + 10, 0) > 200, 'red in the middle');
  for (const [name, buf] of [
    ['a.gif', await base.clone().gif().toBuffer()],
    ['a.webp', await base.clone().webp({ lossless: true }).toBuffer()],
  ] as const) {
    const t = await loadImageTensor(
      await put(name, buf),
      defaultPreprocessing(16, IMAGENET_NORMALISATION.mean, IMAGENET_NORMALISATION.std),
    );
    assert.equal(t.length, 3 * 16 * 16);
    assert.ok(Math.abs(t[0] - (1 - 0.485) / 0.229) < 0.05, `${name} red channel normalised`);
    assert.ok(Math.abs(t[16 * 16] - (0 - 0.456) / 0.224) < 0.05, `${name} green channel normalised`);
  }
});

async function rejects(file: string, code: string, pattern: RegExp) {
  await assert.rejects(
    loadImageTensor(file, pre),
    (e: unknown) => isAttuneError(e) && e.code === code && pattern.test(e.message + e.hint),
  );
}

test('BMP, DICOM, empty, truncated, multispectral and oversized files fail with clear errors', async () => {
  const bmp = Buffer.alloc(70);
  bmp.write('BM', 0);
  await rejects(await put('x.bmp', bmp), 'unsupported-format', /BMP/);
  const dcm = Buffer.alloc(300);
  dcm.write('DICM', 128);
  // DICOM is decoded now; a preamble without a dataset is a cut-short file
  await assert.rejects(
    loadImageTensor(await put('x.dcm', dcm), pre),
    (e: unknown) => isAttuneError(e) && ['truncated', 'unreadable'].includes(e.code) && /DICOM/.test(e.message),
  );
  await rejects(await put('empty.png', Buffer.alloc(0)), 'empty', /empty/);
  const jpg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } })
    .jpeg()
    .toBuffer();
  await rejects(await put('cut.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.6))), 'truncated', /truncated/);
  await rejects(await put('bands.tif', encodeTiff(4, 4, 6, 8, Array(96).fill(9))), 'unsupported-bands', /bands/);
  await rejects(await put('bomb.png', encodeHugePngHeader(20000, 20000)), 'image-too-large', /megapixels/);
});
