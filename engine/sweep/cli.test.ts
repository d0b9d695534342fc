/** `attune sweep` on the command line: usage, spec errors that name the field, the k8s manifest, a local sweep. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { runAttune } from '../testing/cli';
import { DATASETS, MODELS, SHARED, sampleDataset, tempDir } from '../testing/fixtures';

const attune = (...args: string[]) => runAttune(args);

test('sweep --help, and a bad spec file names the field and what to do', () => {
  const h = attune('sweep', '--help');
  assert.equal(h.code, 0);
  assert.match(h.stdout, /usage: attune sweep/);
  const dir = tempDir();
  const spec = join(dir, 'sweep.yaml');
  writeFileSync(spec, 'data: d\nmodel: m.onnx\nmethods: [linear, {method: lora, options: {rnak: 4}}]\n');
  const r = attune('sweep', '--spec', spec, '--out', join(dir, 'out'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /methods\[1\]\.options\.rnak: lora has no option "rnak"/);
  assert.match(r.stderr, /lora takes rank, alpha/);
  writeFileSync(spec, 'data: d\nmodel: m.onnx\nmethods: [linear]\nseeds: [0, x]\n');
  assert.match(attune('sweep', '--spec', spec, '--out', join(dir, 'out')).stderr, /seeds\[1\]/);
  const u = attune(
    'sweep',
    '--data',
    'd',
    '--model',
    'm',
    '--methods',
    'linear',
    '--out',
    join(dir, 'o'),
    '--backend',
    'pbs',
  );
  assert.equal(u.code, 2);
  assert.match(u.stderr, /Unknown backend "pbs"/);
});

test('sweep --backend k8s --emit writes a valid Indexed Job; a local sweep with --parallel 2 writes results', () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest'], 8);
  const dir = tempDir();
  const k = attune(
    'sweep',
    '--data',
    data,
    '--model',
    MODELS.tinyVit,
    '--methods',
    'linear,bitfit',
    '--seeds',
    '0,1',
    '--epochs',
    '1',
    '--out',
    join(dir, 'k8s'),
    '--backend',
    'k8s',
    '--emit',
    join(dir, 'job.yaml'),
    '--gpus',
    '1',
    '--pvc',
    'shared',
  );
  assert.equal(k.code, 0, k.stderr);
  const job = parse(readFileSync(join(dir, 'job.yaml'), 'utf8')) as ConstructorParameters<typeof Job>[0];
  new Job(job).validate();
  assert.equal((job as { spec: { completions: number } }).spec.completions, 4);
  const l = attune(
    'sweep',
    '--data',
    data,
    '--model',
    MODELS.tinyVit,
    '--methods',
    'linear,bitfit',
    '--seeds',
    '0,1',
    '--epochs',
    '1',
    '--batch',
    '8',
    '--out',
    join(dir, 'local'),
    '--parallel',
    '2',
    '--json',
  );
  assert.equal(l.code, 0, l.stderr);
  const res = l.lines.find((x) => x.type === 'sweep-results') as {
    configs: { config: string; testAccuracy: { n: number } }[];
    missing: unknown[];
  };
  assert.deepEqual(
    res.configs.map((c) => [c.config, c.testAccuracy.n]),
    [
      ['linear', 2],
      ['bitfit', 2],
    ],
  );
  assert.match(readFileSync(join(dir, 'local', 'results.md'), 'utf8'), /All 4 trials finished/);
});

test('sweep takes attune train’s value-mapping and imbalance flags, passes them to every trial, and names a bad one', () => {
  const data = sampleDataset(join(SHARED, 'datasets/eurosat-ms'), ['Forest', 'SeaLake'], 4);
  const dir = tempDir();
  const base = ['sweep', '--data', data, '--model', MODELS.tinyVit, '--methods', 'bitfit', '--epochs', '1'];
  const emit = ['--backend', 'k8s', '--emit', join(dir, 'job.yaml')];
  const r = attune(
    ...base,
    ...['--bands', 'all', '--balance', 'sampling', '--select-by', 'macro-f1', '--frames', 'all', '--window', 'lung'],
    ...['--value-offset', '32768', '--out', join(dir, 's'), ...emit],
  );
  assert.equal(r.code, 0, r.stderr);
  const spec = (JSON.parse(readFileSync(join(dir, 's', 'sweep.json'), 'utf8')) as { spec: Record<string, unknown> })
    .spec;
  assert.deepEqual(
    [spec.bands, spec.balance, spec.selectBy, spec.frames, spec.window, spec.valueOffset],
    ['all', 'sampling', 'macro-f1', 'all', 'lung', 32768],
  );
  const job = readFileSync(join(dir, 's', 'jobs', '0.sh'), 'utf8');
  for (const flag of ["'--bands' 'all'", "'--balance' 'sampling'", "'--select-by' 'macro-f1'", "'--frames' 'all'"])
    assert.ok(job.includes(flag), `${flag} in the trial's command`);
  // a bad value is named, with what to do, before anything is written
  const bad = attune(...base, '--bands', '4,3', '--out', join(dir, 'bad'), ...emit);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bands: .*three band numbers/);
  assert.ok(!existsSync(join(dir, 'bad')), 'no sweep folder');
  const frames = attune(...base, '--frames', 'some', '--out', join(dir, 'bad2'), ...emit);
  assert.equal(frames.code, 2);
  assert.match(frames.stderr, /--frames "some" is not middle or all/);
});
