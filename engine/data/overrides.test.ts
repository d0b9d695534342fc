import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOverrides } from './overrides';
import { splitDataset } from './split';

const items = Array.from({ length: 40 }, (_, i) => ({
  file: `${i % 2 ? 'cat' : 'dog'}/${i}.png`,
  label: i % 2 ? 'cat' : 'dog',
}));

test('excluded images leave the split and relabelled ones change class; the input is untouched', () => {
  const o = { exclude: ['dog/0.png', 'cat/1.png'], relabel: { 'dog/2.png': 'cat' } };
  const applied = applyOverrides(items, o, ['cat', 'dog']);
  assert.equal(applied.length, 38);
  assert.equal(applied.find((i) => i.file === 'dog/2.png')!.label, 'cat');
  assert.equal(items.find((i) => i.file === 'dog/2.png')!.label, 'dog');
  const split = splitDataset(applied, { seed: 1 });
  assert.ok(!split.items.some((i) => i.file === 'dog/0.png' || i.file === 'cat/1.png'));
  assert.equal(split.items.find((i) => i.file === 'dog/2.png')!.label, 'cat');
  assert.equal(applyOverrides(items, undefined, ['cat', 'dog']), items);
});

test('a relabel to a class the dataset lacks is refused with the classes it has', () => {
  assert.throws(() => applyOverrides(items, { relabel: { 'dog/2.png': 'bird' } }, ['cat', 'dog']), /bird[\s\S]*/);
});
