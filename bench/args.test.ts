import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const here = import.meta.dirname;
/** a benchmark run as the README runs it, with tsx; its exit code and what it printed */
function bench(file: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, file), ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('a mistyped flag stops a benchmark with its usage, before it measures or writes anything', () => {
  const results = join(here, 'results', 'train.md');
  const before = statSync(results).mtimeMs;
  for (const [args, says] of [
    [['--step', '3'], /Unknown option --step\./],
    [['--steps', 'three'], /--steps must be a whole number ≥ 1, not "three"\./],
    [['--rounds', '0'], /--rounds must be a whole number ≥ 1, not "0"\./],
    [['--methods', 'full,lroa'], /--methods: unknown lroa \(known: full, linear/],
    [['--paired=yes'], /--paired/],
  ] as const) {
    const r = bench('train.bench.ts', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, says);
    assert.match(r.err, /--rounds N +every case N times/, 'the usage follows the reason');
    assert.doesNotMatch(r.out + r.err, /^machine:/m, 'nothing was measured');
  }
  assert.equal(statSync(results).mtimeMs, before, 'bench/results/train.md is untouched');
  const m = bench('methods.bench.ts', '--seeds', '0');
  assert.equal(m.status, 2);
  assert.match(m.err, /--seeds must be a whole number ≥ 1, not "0"\./);
  const d = bench('data.bench.ts', '--onyl', 'dicom');
  assert.equal(d.status, 2);
  assert.match(d.err, /Unknown option --onyl\./);
  const mem = bench('memory.bench.ts', '--methods', 'ful');
  assert.equal(mem.status, 2);
  assert.match(mem.err, /--methods: unknown ful \(known: full, bitfit/);
});

test(
  "bench:memory puts a real run's memory estimate beside its measured peak, and leaves bench/results alone",
  { skip: !existsSync('/usr/bin/time') && 'GNU time (/usr/bin/time) is not installed' },
  () => {
    const model = join(here, '..', '..', 'shared', 'models', 'tiny-vit-random.onnx');
    const results = join(here, 'results', 'memory.md');
    const before = statSync(results).mtimeMs;
    const r = bench(
      'memory.bench.ts',
      '--models',
      model,
      '--methods',
      'bitfit,pace-fast',
      '--batch',
      '8',
      '--json',
      '--out',
      '-',
    );
    assert.equal(r.status, 0, r.err);
    const rows = r.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { method: string; estimatedMB: number; peakRssMB: number; error: number });
    assert.deepEqual(
      rows.map((x) => x.method),
      ['bitfit', 'pace-fast'],
    );
    for (const row of rows) {
      // a real `attune train` process: Node, onnxruntime and the data pipeline alone take hundreds of MB
      assert.ok(row.peakRssMB > 200 && row.estimatedMB > 200, JSON.stringify(row));
      assert.ok(Math.abs(row.estimatedMB / row.peakRssMB - 1 - row.error) < 1e-9);
    }
    assert.equal(statSync(results).mtimeMs, before, 'bench/results/memory.md is untouched');
  },
);

test('--help prints every flag of a benchmark and exits cleanly', () => {
  const r = bench('train.bench.ts', '--help');
  assert.equal(r.status, 0, r.err);
  for (const f of ['--json', '--batch N', '--steps N', '--rounds N', '--paired', '--profile', '--methods a,b', '--out'])
    assert.ok(r.out.includes(`  ${f} `), `${f} in:\n${r.out}`);
  assert.doesNotMatch(r.out, /^machine:/m);
});

test('--model measures another backbone at its own input size and leaves bench/results alone', () => {
  const model = join(here, '..', '..', 'shared', 'models', 'tiny-vit-random.onnx');
  const results = join(here, 'results', 'train.md');
  const before = statSync(results).mtimeMs;
  const r = bench('train.bench.ts', '--model', model, '--methods', 'full,lora', '--steps', '1', '--json', '--out', '-');
  assert.equal(r.status, 0, r.err);
  const rows = r.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const method of ['full', 'lora']) {
    const row = rows.find((x) => x.method === method);
    assert.ok(row, `${method} in ${r.out}`);
    assert.equal(row.model, 'tiny-vit-random');
    assert.equal(row.imageSize, 32, 'the backbone reads 32×32 images');
    assert.ok(Number(row.imagesPerSecond) > 0 && Number(row.peakRssMB) > 0);
  }
  assert.ok(rows.some((x) => x.type === 'ratio' && x.method === 'lora' && Number(x.secondsPerImageVsFull) > 0));
  assert.equal(statSync(results).mtimeMs, before);
});
