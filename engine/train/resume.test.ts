/**
 * Trainer behaviour on real images with the 32×32 CNN fixture (fast): cancel and resume gives exactly the
 * uninterrupted run, K steps per Loop equal single steps, bad files are left out, the dataset is never written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainRun, type RunRequest } from './trainer';
import { loadCheckpoint } from '../run/checkpoint';
import { runFiles } from '../run/spec';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';
import type { EngineEvent } from '../events';

const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 12);

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const request = (outDir: string, extra: Partial<RunRequest> = {}): RunRequest => ({
  data,
  model: MODELS.tinyCnn,
  method: 'full',
  epochs: 3,
  batch: 4,
  lr: 1e-3,
  seed: 7,
  outDir,
  ...extra,
});

async function finalWeights(runDir: string): Promise<Map<string, Float32Array>> {
  const ck = await loadCheckpoint(runFiles(runDir).last);
  return new Map([...ck.tensors].map(([k, t]) => [k, t.data as Float32Array]));
}

test('a cancelled run resumes where it stopped and ends bit-identical to an uninterrupted run', async () => {
  const before = hashTree(data);
  const straight = join(tempDir(), 'run');
  await trainRun(request(straight));

  const resumed = join(tempDir(), 'run');
  const abort = new AbortController();
  let steps = 0;
  const first = await trainRun(request(resumed), {
    signal: abort.signal,
    onEvent: (e) => e.type === 'step' && ++steps === 11 && abort.abort(),
  });
  assert.equal(first.status, 'cancelled');
  const status = JSON.parse(readFileSync(runFiles(resumed).status, 'utf8'));
  assert.equal(status.state, 'cancelled');
  const events: EngineEvent[] = [];
  const second = await trainRun(request(resumed), { onEvent: (e) => events.push(e) });
  assert.equal(second.status, 'done');
  assert.ok(events.some((e) => e.type === 'log' && /Resuming at epoch/.test(e.message)));
  const a = await finalWeights(straight);
  const b = await finalWeights(resumed);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, k);
  assert.equal(hashTree(data), before, 'the dataset folder was not written to');
  await assert.rejects(trainRun(request(resumed)), /already holds a finished run/);
});

test('K steps per run inside an ONNX Loop train the same weights as one step per run', async () => {
  const one = join(tempDir(), 'run');
  const loop = join(tempDir(), 'run');
  await trainRun(request(one, { epochs: 1 }));
  await trainRun(request(loop, { epochs: 1, stepsPerRun: 3 }));
  const a = await finalWeights(one);
  const b = await finalWeights(loop);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    let d = 0;
    v.forEach((x, i) => (d = Math.max(d, Math.abs(x - w[i]))));
    assert.ok(d < 1e-4, `${k} differs by ${d}`);
  }
});

test('a corrupt image is left out with a message; training goes on with the rest', async () => {
  const messy = sampleDataset(DATASETS.aid, ['Beach', 'Forest'], 8);
  writeFileSync(join(messy, 'Beach', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  writeFileSync(join(messy, 'Forest', 'empty.png'), '');
  const events: EngineEvent[] = [];
  const r = await trainRun(
    { ...request(join(tempDir(), 'run')), data: messy, epochs: 1 },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(r.status, 'done');
  const warnings = events
    .filter((e) => e.type === 'log' && e.level === 'warn')
    .map((e) => (e as { message: string }).message)
    .join('\n');
  assert.match(warnings, /broken\.jpg/);
  assert.match(warnings, /empty\.png/);
});
