import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { defaultPreprocessing, VIT_NORMALISATION } from '../preprocessing';
import { DecodedImageCache } from './image-cache';
import { loadImageTensor } from './image';
import { createBatchLoader, loadImageViews, type Batch, type BatchLoaderOptions } from './loader';
import { mulberry32 } from '../util/random';

const AID = path.resolve(process.cwd(), '../shared/datasets/aid-satellite-subset');
const pre = defaultPreprocessing(64, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);

async function aidItems(perClass: number) {
  const classes = (await readdir(AID))
    .filter((c) => !c.startsWith('.'))
    .sort()
    .slice(0, 4);
  const items = [];
  for (const [label, c] of classes.entries())
    for (const f of (await readdir(path.join(AID, c))).sort().slice(0, perClass))
      items.push({ file: path.join(AID, c, f), label });
  return items;
}

async function collect(opts: BatchLoaderOptions): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of createBatchLoader(opts)) out.push(b);
  return out;
}

test('augmented batches are identical across concurrency, prefetch and cache; epochs and seeds differ', async () => {
  const items = await aidItems(6);
  const base: BatchLoaderOptions = { items, pre, augment: 'aerial', batchSize: 5, seed: 11, epoch: 2, shuffle: true };
  const a = await collect({ ...base, concurrency: 1, prefetch: 1, cache: false });
  const cache = new DecodedImageCache(64 * 1024 * 1024);
  const b = await collect({ ...base, concurrency: 16, prefetch: 4, cache });
  const c = await collect({ ...base, concurrency: 3, cache }); // from cache
  assert.equal(a.length, 5);
  assert.deepEqual(
    a.map((x) => x.count),
    [5, 5, 5, 5, 4],
  );
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(a[i].files, b[i].files);
    assert.deepEqual(a[i].x, b[i].x);
    assert.deepEqual(a[i].x, c[i].x);
  }
  assert.ok(cache.hits >= items.length);
  const other = await collect({ ...base, epoch: 3, cache });
  assert.notDeepEqual(other[0].files, a[0].files);
  const drop = await collect({ ...base, dropLast: true, cache });
  assert.equal(drop.length, 4);
  const labels = a.flatMap((x) => [...x.labels]).sort();
  assert.deepEqual(labels, items.map((i) => i.label).sort());
});

test('no augmentation reproduces loadImageTensor exactly; every preset yields finite, distinct views', async () => {
  const items = await aidItems(2);
  const [batch] = await collect({
    items,
    pre,
    augment: 'none',
    batchSize: 8,
    seed: 0,
    epoch: 0,
    shuffle: false,
    cache: false,
  });
  const per = 3 * 64 * 64;
  assert.deepEqual(batch.x.subarray(per, 2 * per), await loadImageTensor(items[1].file, pre));
  for (const preset of ['natural', 'aerial', 'medical'] as const) {
    const [v1, v2] = await loadImageViews(items[0].file, pre, {
      augment: { preset, grayscale: 0.2 },
      rng: mulberry32(5),
    });
    assert.equal(v1.length, per);
    assert.ok(v1.every(Number.isFinite) && v1.every((v) => v >= -1.0001 && v <= 1.0001));
    assert.notDeepEqual(v1, v2, `${preset} views should differ`);
  }
  const [two] = await collect({
    items,
    pre,
    augment: 'natural',
    batchSize: 4,
    seed: 0,
    epoch: 0,
    shuffle: false,
    views: 2,
    cache: false,
  });
  assert.equal(two.x2?.length, two.x.length);
  assert.notDeepEqual(two.x2, two.x);
});
