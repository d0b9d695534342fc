import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, readdir } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { defaultPreprocessing, VIT_NORMALISATION } from '../preprocessing';
import { loadImageTensor } from './image';

const MODELS = path.resolve(process.cwd(), '../shared/models');

test('ViT-Tiny gets ImageNet top-1 right on ≥16/17 probe photos (Resize 256 + CenterCrop 224)', async () => {
  const pre = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);
  assert.equal(pre.resizeTo, 256);
  const probeDir = path.join(MODELS, 'imagenet-probe');
  const synsets = (await readFile(path.join(probeDir, 'synsets.txt'), 'utf8')).trim().split('\n');
  const files = (await readdir(probeDir)).filter((f) => f.endsWith('.JPEG')).sort();
  assert.equal(files.length, 17);
  const session = await ort.InferenceSession.create(path.join(MODELS, 'vit-tiny-patch16-224.onnx'));
  const x = new Float32Array(files.length * 3 * 224 * 224);
  for (let i = 0; i < files.length; i++)
    x.set(await loadImageTensor(path.join(probeDir, files[i]), pre), i * 3 * 224 * 224);
  const out = await session.run({ pixel_values: new ort.Tensor('float32', x, [files.length, 3, 224, 224]) });
  const logits = out.logits.data as Float32Array;
  let correct = 0;
  const misses: string[] = [];
  for (let i = 0; i < files.length; i++) {
    const row = logits.subarray(i * 1000, (i + 1) * 1000);
    let best = 0;
    for (let k = 1; k < 1000; k++) if (row[k] > row[best]) best = k;
    if (synsets[best] === files[i].split('_')[0]) correct++;
    else misses.push(`${files[i]} → ${synsets[best]}`);
  }
  assert.ok(correct >= 16, `only ${correct}/17 correct; misses: ${misses.join(', ')}`);
});

test('evaluation view matches Pillow bilinear Resize + CenterCrop within 3 levels (down- and upscaling)', async () => {
  const sharp = (await import('sharp')).default;
  const { resizeBilinearPil, cropRgb } = await import('./resample');
  const { decodeEvalRgb, shorterSideSize } = await import('./image');
  const pre = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);
  const probe = path.join(MODELS, 'imagenet-probe');
  const aid = path.resolve(process.cwd(), '../shared/datasets/aid-satellite-subset');
  const aidClass = (await readdir(aid, { withFileTypes: true })).find((d) => d.isDirectory())!.name;
  const aidFile = path.join(aid, aidClass, (await readdir(path.join(aid, aidClass)))[0]);
  // 375×500 (odd crop offset: Python rounds half to even), 226×175 (enlarged), a 150×150 AID tile (enlarged)
  for (const file of [path.join(probe, 'n01735189_11267.JPEG'), path.join(probe, 'n03240683_10240.JPEG'), aidFile]) {
    const { data, info } = await sharp(file)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const r = shorterSideSize(info.width, info.height, 256);
    const resized = resizeBilinearPil(
      { data: new Uint8Array(data), width: info.width, height: info.height },
      r.width,
      r.height,
    );
    const half = (x: number) => (x % 1 === 0.5 && Math.round(x) % 2 ? Math.round(x) - 1 : Math.round(x));
    const ref = cropRgb(resized, half((r.width - 224) / 2), half((r.height - 224) / 2), 224, 224);
    const got = await decodeEvalRgb(file, pre);
    assert.ok(got.data instanceof Uint8Array, '8-bit photos stay on the 8-bit path');
    let max = 0;
    let sum = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const e = Math.abs(ref.data[i] - got.data[i]);
      max = Math.max(max, e);
      sum += e;
    }
    assert.ok(
      max <= 3 && sum / ref.data.length < 0.5,
      `${path.basename(file)}: max ${max}, mean ${sum / ref.data.length}`,
    );
  }
});
