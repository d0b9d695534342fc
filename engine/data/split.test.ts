import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAttuneError } from '../errors';
import { scanDataset } from './scan';
import { classTargets, loadSplit, saveSplit, splitCounts, splitDataset, type SplitInputItem } from './split';

test('BUSI split is stratified, seeded, reproducible, and keeps the duplicate pair together', async () => {
  const report = await scanDataset(path.resolve(process.cwd(), '../shared/datasets/busi-ultrasound'), { cache: false });
  const a = splitDataset(report, { seed: 7 });
  const b = splitDataset({ ...report, items: [...report.items].reverse() }, { seed: 7 });
  assert.deepEqual(a.items, b.items, 'input order does not matter');
  assert.notDeepEqual(splitDataset(report, { seed: 8 }).items, a.items);
  const counts = splitCounts(a);
  assert.deepEqual(counts.val, { benign: 44, malignant: 21, normal: 13 });
  assert.deepEqual(counts.test, { benign: 44, malignant: 21, normal: 13 });
  assert.equal(counts.train.benign, 349);
  const dup = report.duplicates[0].files;
  const where = new Map(a.items.map((i) => [i.file, i.split]));
  assert.equal(where.get(dup[0]), where.get(dup[1]));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'attune-split-'));
  try {
    const file = path.join(dir, 'split.json');
    await saveSplit(file, a);
    assert.deepEqual(await readdir(dir), ['split.json'], 'no temp files left');
    assert.deepEqual(await loadSplit(file, report), a);
    await assert.rejects(
      loadSplit(file, { items: report.items.slice(1) }),
      (e) => isAttuneError(e) && e.code === 'split-stale',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('groups stay on one side; tiny classes still reach train (and val when possible)', () => {
  const items: SplitInputItem[] = [];
  for (let p = 0; p < 40; p++)
    for (let k = 0; k < 3; k++)
      items.push({ file: `img_${p}_${k}.png`, label: p % 2 ? 'a' : 'b', group: `patient${p}` });
  items.push(
    { file: 'rare1.png', label: 'rare' },
    { file: 'rare2.png', label: 'rare' },
    { file: 'solo.png', label: 'solo' },
  );
  const s = splitDataset(items, { seed: 3 });
  const groupSplit = new Map<string, Set<string>>();
  for (const it of s.items)
    if (it.group) (groupSplit.get(it.group) ?? groupSplit.set(it.group, new Set()).get(it.group)!).add(it.split);
  assert.ok(
    [...groupSplit.values()].every((x) => x.size === 1),
    'a group straddles splits',
  );
  const c = splitCounts(s);
  assert.equal(c.train.rare, 1);
  assert.equal(c.val.rare, 1);
  assert.equal(c.train.solo, 1);
  assert.ok(c.val.a > 0 && c.test.a > 0 && c.train.a > c.val.a);
  assert.deepEqual(classTargets(3, [0.8, 0.1, 0.1]), [2, 1, 0]);
  assert.deepEqual(classTargets(4, [0.8, 0.1, 0.1]), [2, 1, 1]);
  assert.deepEqual(classTargets(100, [0.7, 0.15, 0.15]), [70, 15, 15]);
});

test('a split given by the layout wins; a missing val split is carved from train', () => {
  const items: SplitInputItem[] = [];
  for (let i = 0; i < 20; i++)
    items.push(
      { file: `train/a/${i}.png`, label: 'a', split: 'train' },
      { file: `train/b/${i}.png`, label: 'b', split: 'train' },
    );
  for (let i = 0; i < 5; i++)
    items.push(
      { file: `test/a/${i}.png`, label: 'a', split: 'test' },
      { file: `test/b/${i}.png`, label: 'b', split: 'test' },
    );
  const s = splitDataset(items, { seed: 1 });
  assert.equal(s.source, 'layout+random');
  assert.ok(s.items.filter((i) => i.file.startsWith('test/')).every((i) => i.split === 'test'));
  const c = splitCounts(s);
  assert.ok(c.val.a >= 1 && c.val.b >= 1);
  assert.equal(c.test.a, 5);
});
