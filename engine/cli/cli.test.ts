/** The CLI contract outside checks use: `npm run attune -- train|export|predict --json`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runAttune } from '../testing/cli';
import { DATASETS, MODELS, PROBE_DIR, SHARED, sampleDataset, tempDir } from '../testing/fixtures';

// --json output is JSON lines only: every line must parse
const attune = (...args: string[]) => runAttune(args, { strict: true });

test('train --json streams JSON events; export writes model.onnx and labels.txt; predict --json prints one line per image', () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 10);
  const dir = tempDir();
  const run = join(dir, 'run');
  const t = attune(
    'train',
    '--data',
    data,
    '--model',
    MODELS.tinyCnn,
    '--method',
    'linear',
    '--epochs',
    '2',
    '--out',
    run,
    '--seed',
    '1',
    '--batch',
    '8',
    '--lr',
    '0.01',
    '--json',
  );
  assert.equal(t.code, 0, t.stderr);
  const types = new Set(t.lines.map((l) => l.type));
  for (const k of ['phase', 'provider', 'step', 'epoch', 'done']) assert.ok(types.has(k), `event ${k}`);
  const ex = attune('export', '--run', run, '--out', join(dir, 'export'), '--json');
  assert.equal(ex.code, 0, ex.stderr);
  assert.ok(existsSync(join(dir, 'export', 'model.onnx')) && existsSync(join(dir, 'export', 'labels.txt')));
  const images = readdirSync(join(data, 'Forest'))
    .slice(0, 3)
    .map((f) => join(data, 'Forest', f));
  const p = attune('predict', '--model', join(dir, 'export', 'model.onnx'), '--json', ...images);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.lines.length, 3);
  for (const [i, l] of p.lines.entries()) {
    assert.equal(l.file, images[i]);
    assert.equal(typeof l.index, 'number');
    assert.ok(['Beach', 'Forest', 'Parking'].includes(l.label as string));
    assert.ok((l.probability as number) > 0 && (l.probability as number) <= 1);
    const top = l.top as { index: number; label: string; probability: number }[];
    assert.equal(top[0].index, l.index);
    assert.ok(top.every((x) => typeof x.label === 'string' && typeof x.probability === 'number'));
  }
});

test('predict on a model without labels metadata uses the class index as the label, and ViT-Tiny gets ≥ 16/17 probe photos right', () => {
  const files = readdirSync(PROBE_DIR)
    .filter((f) => f.endsWith('.JPEG'))
    .map((f) => join(PROBE_DIR, f));
  const p = attune('predict', '--model', MODELS.vitTiny, '--json', ...files);
  assert.equal(p.code, 0, p.stderr);
  const synsets = spawnSync('cat', [join(PROBE_DIR, 'synsets.txt')], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n');
  let right = 0;
  for (const l of p.lines) {
    assert.equal(l.label, String(l.index));
    if (synsets[l.index as number] === (l.file as string).split('/').pop()!.split('_')[0]) right++;
  }
  assert.ok(right >= 16, `${right}/17`);
});

test('bad usage and bad input say what is wrong and what to do', () => {
  const u = attune('train', '--data', '/nope');
  assert.equal(u.code, 2);
  assert.match(u.stderr, /--method is required/);
  const m = attune(
    'train',
    '--data',
    '/nope',
    '--model',
    MODELS.tinyCnn,
    '--method',
    'magic',
    '--out',
    join(tempDir(), 'r'),
  );
  assert.match(m.stderr, /no method called "magic"/i);
  const d = attune(
    'train',
    '--data',
    join(tempDir(), 'missing'),
    '--model',
    MODELS.tinyCnn,
    '--method',
    'linear',
    '--out',
    join(tempDir(), 'r'),
  );
  assert.equal(d.code, 1);
  assert.match(d.stderr, /error: .+\n.+/);
  // --rank is LoRA's and PACE's: accepted for both (the run then fails on the missing folder), refused elsewhere
  for (const method of ['lora', 'pace']) {
    const r = attune(
      'train',
      '--data',
      join(tempDir(), 'missing'),
      '--model',
      MODELS.tinyVit,
      '--method',
      method,
      '--rank',
      '4',
      '--out',
      join(tempDir(), 'r'),
    );
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /--rank/);
  }
  const wrong = attune(
    'train',
    '--data',
    '/nope',
    '--model',
    MODELS.tinyCnn,
    '--method',
    'full',
    '--rank',
    '4',
    '--out',
    join(tempDir(), 'r'),
  );
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--rank does not apply to full/);
  const img = attune('predict', '--model', MODELS.tinyCnn, '--json', join(tempDir(), 'no-such.jpg'));
  assert.equal(img.code, 1);
  assert.ok(img.lines[0].error && img.lines[0].hint);
});

test('the imbalance, operating-point and explain options refuse bad values with what to do', () => {
  const b = attune(
    'train',
    '--data',
    '/nope',
    '--model',
    MODELS.tinyCnn,
    '--method',
    'linear',
    '--balance',
    'oversample',
    '--out',
    join(tempDir(), 'r'),
  );
  assert.equal(b.code, 2);
  assert.match(b.stderr, /Unknown --balance "oversample"[\s\S]*none, weights, sampling/);
  const s = attune(
    'train',
    '--data',
    '/nope',
    '--model',
    MODELS.tinyCnn,
    '--method',
    'linear',
    '--select-by',
    'loss',
    '--out',
    join(tempDir(), 'r'),
  );
  assert.equal(s.code, 2);
  const p = attune('export', '--run', '/nope', '--out', join(tempDir(), 'e'), '--positive', 'malignant');
  assert.equal(p.code, 2);
  assert.match(p.stderr, /exactly one of --sensitivity or --specificity/);
  const e = attune('explain', '--model', MODELS.tinyCnn);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /No image files given/);
});

test('every command prints its usage with --help', () => {
  for (const c of ['scan', 'train', 'export', 'predict', 'explain', 'apply-patch']) {
    const r = runAttune([c, '--help']);
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`usage: attune ${c}`));
  }
});

test('train method flags: --clip-norm none reaches the run as no clipping; --method spd is full fine-tuning with SPD', async () => {
  const { readFileSync } = await import('node:fs');
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 4);
  const dir = tempDir();
  const spec = (run: string) =>
    JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as {
      method: string;
      hyper: { clipNorm: number | null; optimizer: string };
    };
  const none = attune(
    'train',
    '--data',
    data,
    '--model',
    MODELS.tinyCnn,
    '--method',
    'full',
    '--epochs',
    '1',
    '--batch',
    '4',
    '--clip-norm',
    'none',
    '--out',
    join(dir, 'none'),
    '--json',
  );
  assert.equal(none.code, 0, none.stderr);
  assert.equal(spec(join(dir, 'none')).hyper.clipNorm, null);
  const spd = attune(
    'train',
    '--data',
    data,
    '--model',
    MODELS.tinyCnn,
    '--method',
    'spd',
    '--epochs',
    '1',
    '--batch',
    '4',
    '--out',
    join(dir, 'spd'),
    '--json',
  );
  assert.equal(spd.code, 0, spd.stderr);
  assert.deepEqual([spec(join(dir, 'spd')).method, spec(join(dir, 'spd')).hyper.optimizer], ['spd', 'spd']);
  const epoch = spd.lines.find((l) => l.type === 'epoch') as { diagnostics: Record<string, number> };
  assert.ok(
    epoch.diagnostics.spd_tensors > 0 && 'spd_condition' in epoch.diagnostics && 'spd_projected' in epoch.diagnostics,
  );
  const clash = attune(
    'train',
    '--data',
    data,
    '--model',
    MODELS.tinyCnn,
    '--method',
    'spd',
    '--optimizer',
    'adamw',
    '--out',
    join(dir, 'clash'),
  );
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /--method spd trains with --optimizer spd/);
});

test('--labels is relative to the working directory like every other path, or found in the data folder', () => {
  const zoo = join(SHARED, 'datasets/dicom-zoo');
  for (const labels of [relative(process.cwd(), join(zoo, 'labels.csv')), 'labels.csv']) {
    const r = runAttune(['scan', '--json', '--no-cache', '--labels', labels, zoo]);
    assert.equal(r.code, 0, `${labels}: ${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { total: number }).total, 49);
  }
  const missing = runAttune(['scan', '--no-cache', '--labels', 'no-such.csv', zoo]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot read the labels file .*no-such\.csv/);
});
