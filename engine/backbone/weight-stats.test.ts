import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone } from './load';
import { weightStats } from './weight-stats';
import { MODELS } from '../testing/fixtures';

test('pretrained backbones look pretrained; randomly initialised ones do not', async () => {
  for (const [name, path] of Object.entries(MODELS)) {
    const s = weightStats((await loadBackbone(path)).model.graph.initializers.values());
    assert.equal(
      s.looksPretrained,
      !/random/i.test(path),
      `${name}: median ${s.medianExcessKurtosis}, max ${s.maxExcessKurtosis}`,
    );
  }
});

test('normally initialised weights are not mistaken for trained ones', () => {
  // Box–Muller normal(0, 0.02), as timm initialises ViTs
  let seed = 1;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const normal = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd()) * 0.02;
  const tensors = Array.from({ length: 8 }, () => ({
    dtype: 'float32' as const,
    dims: [64, 64],
    data: Float32Array.from({ length: 4096 }, normal),
  }));
  assert.equal(weightStats(tensors).looksPretrained, false);
});
