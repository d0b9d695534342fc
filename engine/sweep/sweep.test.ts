/** Sweep spec, grid, k-fold splits, statistics and the Kubernetes manifest (no training here). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { AttuneError } from '../errors';
import { scanDataset } from '../data/scan';
import { DATASETS, MODELS, SHARED, sampleDataset, tempDir } from '../testing/fixtures';
import { assignFolds, kFoldSplits } from './folds';
import { expandConfigs, expandTrials } from './grid';
import { k8sJob } from './k8s';
import { loadSweepSpecFile, validateSweepSpec } from './spec';
import { PROPORTION, pairedDifference, summarizeValues } from './stats';
import { openSweep } from './sweep';

const base = { data: '/d', model: '/m.onnx' };

test('spec errors name the bad field', () => {
  const bad = (raw: unknown, re: RegExp) =>
    assert.throws(
      () => validateSweepSpec(raw),
      (e: unknown) => e instanceof AttuneError && re.test(e.message),
    );
  bad({ ...base, methods: [] }, /methods: /);
  bad({ ...base, methods: ['linear'], seeds: [0, -1] }, /seeds\[1\]/);
  bad({ ...base, methods: ['linear'], grid: { lr: [0.1, 'x'] } }, /grid\.lr\[1\]/);
  bad({ ...base, methods: ['linear'], epoch: 3 }, /epoch/);
  bad({ ...base, methods: ['linear', 'magic'] }, /methods\[1\]: no method called "magic"/);
  bad({ ...base, methods: [{ method: 'lora', options: { rnak: 4 } }] }, /methods\[0\]\.options\.rnak/);
  bad({ ...base, methods: ['lora'], grid: { options: { nope: [1] } } }, /grid\.options\.nope/);
  bad({ model: '/m', methods: ['linear'] }, /data: /);
  bad(
    { ...base, methods: [{ method: 'lora', options: { rank: 0 } }] },
    /methods\[0\]\.options\.rank: must be a whole number ≥ 1, not 0/,
  );
  bad(
    { ...base, methods: [{ method: 'pace', grid: { sigma: [0.5, 'big'] } }] },
    /methods\[0\]\.grid\.sigma\[1\]: must be a number/,
  );
  bad({ ...base, methods: ['lora'], grid: { options: { rank: [4, 2.5] } } }, /grid\.options\.rank\[1\]/);
  bad(
    { ...base, methods: [{ method: 'full', optimizer: 'spd', grid: { spdLambda: [0.5, 2] } }] },
    /methods\[0\]\.grid\.spdLambda\[1\]/,
  );
});

test('a YAML spec expands to methods × grid × seeds × folds, options only where a method has them', async () => {
  const dir = tempDir();
  const file = join(dir, 'sweep.yaml');
  writeFileSync(
    file,
    'data: ../data\nmodel: m.onnx\nmethods: [linear, lora, {method: pace, name: pace-base, options: {sigma: 0, lambda: 0}}]\ngrid:\n  lr: [0.001, 0.01]\n  options: {rank: [4, 8]}\nseeds: [0, 1, 2]\nfolds: 5\n',
  );
  const spec = await loadSweepSpecFile(file);
  assert.equal(spec.data, join(dir, '..', 'data').replace(/\/[^/]+\/\.\.\//, '/'));
  assert.equal(spec.model, join(dir, 'm.onnx'));
  const configs = expandConfigs(spec);
  // linear: 2 lr; lora: 2 ranks × 2 lr; pace-base: 2 ranks × 2 lr (rank is PACE's option too)
  assert.equal(configs.length, 2 + 4 + 4);
  assert.deepEqual(
    configs.filter((c) => c.method === 'linear').map((c) => c.id),
    ['linear-lr0.001', 'linear-lr0.01'],
  );
  assert.ok(configs.some((c) => c.id === 'lora-rank4-lr0.01' && c.options.rank === 4 && c.lr === 0.01));
  assert.ok(
    configs.filter((c) => c.method === 'pace').every((c) => c.options.sigma === 0 && c.id.startsWith('pace-base')),
  );
  const trials = expandTrials(configs, spec);
  assert.equal(trials.length, 10 * 3 * 5);
  assert.deepEqual(
    trials.map((t) => t.index),
    [...trials.keys()],
  );
  // a method entry's own grid and hyper-parameters (the papers' searches): PACE λ × σ, SPD's λ
  const own = expandConfigs(
    validateSweepSpec({
      ...base,
      methods: [
        { method: 'pace', grid: { lambda: [0.1, 1], sigma: [0.5, 1.5] }, batch: 16 },
        { method: 'full', name: 'full+spd', optimizer: 'spd', grid: { spdLambda: [0.25, 1] } },
      ],
    }),
  );
  assert.equal(own.length, 6);
  assert.ok(
    own
      .filter((c) => c.group === 'pace')
      .every((c) => c.batch === 16 && typeof c.options.lambda === 'number' && typeof c.options.sigma === 'number'),
  );
  assert.deepEqual(
    own.filter((c) => c.group === 'full+spd').map((c) => [c.optimizer, c.spdLambda]),
    [
      ['spd', 0.25],
      ['spd', 1],
    ],
  );
  assert.equal(new Set(trials.map((t) => t.id)).size, trials.length);
});

test('k folds: every image in exactly one test fold, no group spans folds, classes spread over folds', async () => {
  // groups: 3 images per "patient", 60 images, 2 classes; plus duplicates joined through a shared hash
  const items = Array.from({ length: 60 }, (_, i) => ({
    file: `img${i}.png`,
    label: i % 4 < 2 ? 'a' : 'b',
    group: `p${Math.floor(i / 3)}`,
    ...(i === 7 || i === 31 ? { hash: 'dup' } : {}),
  }));
  const k = 5;
  const folds = assignFolds(items, k, 0);
  const groupFold = new Map<string, number>();
  items.forEach((it, i) => {
    assert.ok(folds[i] >= 0 && folds[i] < k);
    if (groupFold.has(it.group)) assert.equal(groupFold.get(it.group), folds[i], `group ${it.group} spans folds`);
    groupFold.set(it.group, folds[i]);
  });
  assert.equal(folds[7], folds[31], 'exact duplicates share a fold');
  const splits = kFoldSplits({ items }, k, 0);
  const testCount = new Map<string, number>();
  for (const s of splits) {
    for (const it of s.items.filter((x) => x.split === 'test'))
      testCount.set(it.file, (testCount.get(it.file) ?? 0) + 1);
    // within a fold's split, no group is on two sides
    const side = new Map<string, string>();
    for (const it of s.items) {
      assert.equal(side.get(it.group!) ?? it.split, it.split, `group ${it.group} on two sides`);
      side.set(it.group!, it.split);
    }
    assert.ok(s.items.some((x) => x.split === 'val') && s.items.some((x) => x.split === 'train'));
    for (const c of ['a', 'b'])
      assert.ok(
        s.items.some((x) => x.split === 'test' && x.label === c),
        'both classes in each test fold',
      );
  }
  assert.equal(testCount.size, items.length);
  assert.ok([...testCount.values()].every((n) => n === 1));
});

test('k folds on a real dataset folder: sweep folder holds k split files that train can reuse', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 8);
  const spec = validateSweepSpec({ data, model: MODELS.tinyVit, methods: ['linear', 'lora'], seeds: [0, 1], folds: 3 });
  const sweep = await openSweep(spec, join(tempDir(), 'sw'));
  assert.equal(sweep.trials.length, 2 * 3 * 2);
  const report = await scanDataset(data);
  const { loadSplit } = await import('../data/split');
  const seen = new Map<string, number>();
  for (let f = 0; f < 3; f++) {
    const s = await loadSplit(join(sweep.dir, 'splits', `fold-${f}.json`), report);
    for (const it of s.items.filter((x) => x.split === 'test')) seen.set(it.file, (seen.get(it.file) ?? 0) + 1);
  }
  assert.equal(seen.size, report.items.length);
  assert.ok([...seen.values()].every((n) => n === 1));
  // the same spec reopens the folder; another spec is refused
  assert.equal((await openSweep(spec, sweep.dir)).trials.length, 12);
  await assert.rejects(openSweep({ ...spec, seeds: [0] }, sweep.dir), /different sweep/);
});

test('the user’s corrections reach every split of a sweep: excluded images in none, relabelled ones with their class', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 8);
  const report = await scanDataset(data);
  const [gone, moved] = [report.items[0].file, report.items[9].file];
  assert.notEqual(report.items[9].label, 'Parking');
  const overrides = { exclude: [gone], relabel: { [moved]: 'Parking' } };
  const { loadSplit } = await import('../data/split');
  for (const folds of [0, 3]) {
    const spec = validateSweepSpec({ data, model: MODELS.tinyVit, methods: ['linear'], folds, overrides });
    const sweep = await openSweep(spec, join(tempDir(), 'sw'));
    for (let f = 0; f < Math.max(1, folds); f++) {
      const s = await loadSplit(join(sweep.dir, 'splits', folds ? `fold-${f}.json` : 'split.json'), report);
      assert.equal(s.items.length, report.items.length - 1);
      assert.ok(!s.items.some((i) => i.file === gone), `${gone} left out`);
      assert.equal(s.items.find((i) => i.file === moved)!.label, 'Parking');
    }
    // without them: another sweep, which the same folder refuses
    await assert.rejects(openSweep({ ...spec, overrides: undefined }, sweep.dir), /different sweep/);
  }
  // a correction to a class the data does not have is refused, naming the file and the classes
  const bad = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['linear'],
    overrides: { relabel: { [moved]: 'Lake' } },
  });
  await assert.rejects(
    openSweep(bad, join(tempDir(), 'sw')),
    (e: unknown) =>
      e instanceof AttuneError && /names the class "Lake"/.test(e.message) && /Beach, Forest, Parking/.test(e.hint),
  );
});

test('k folds on real CT slices with patient ids: no patient spans folds, every image in exactly one test fold', async () => {
  // the 16-bit PNG export of ct-contrast-dicom; its patient ids come from the DICOM set's labels.csv (54 patients)
  const data = join(SHARED, 'datasets/ct-contrast-png16');
  const rows = readFileSync(join(SHARED, 'datasets/ct-contrast-dicom/labels.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  const labels = join(tempDir(), 'labels.csv');
  writeFileSync(
    labels,
    [
      'file,label,patient_id',
      ...rows.map(([file, label, , , patient]) => `${file.replace(/\.dcm$/, '.png')},${label},${patient}`),
    ].join('\n'),
  );
  const spec = validateSweepSpec({
    data,
    labels,
    columns: { path: 'file', label: 'label', group: 'patient_id' },
    model: MODELS.tinyVit,
    methods: ['linear'],
    folds: 5,
  });
  const sweep = await openSweep(spec, join(tempDir(), 'sw'), { scanCacheDir: tempDir() });
  const { loadSplit } = await import('../data/split');
  const foldOf = new Map<string, number>();
  const patientFolds = new Map<string, Set<number>>();
  for (let f = 0; f < 5; f++) {
    const s = await loadSplit(join(sweep.dir, 'splits', `fold-${f}.json`));
    for (const it of s.items.filter((x) => x.split === 'test')) {
      assert.ok(!foldOf.has(it.file), `${it.file} in two test folds`);
      foldOf.set(it.file, f);
      assert.ok(it.group, 'the patient id travels with the item');
      patientFolds.set(it.group!, (patientFolds.get(it.group!) ?? new Set()).add(f));
    }
  }
  assert.equal(foldOf.size, 100);
  assert.equal(patientFolds.size, 54);
  for (const [patient, folds] of patientFolds) assert.equal(folds.size, 1, `patient ${patient} spans folds`);
});

test('statistics: mean ± sd, t-interval and paired differences against known values', () => {
  const s = summarizeValues([0.8, 0.9, 1.0]);
  assert.ok(Math.abs(s.mean - 0.9) < 1e-12 && Math.abs(s.sd! - 0.1) < 1e-12);
  // t(0.975, 2) = 4.302653: half-width 4.302653 · 0.1 / √3
  const half = (4.302652729911275 * 0.1) / Math.sqrt(3);
  assert.ok(Math.abs(s.ci95![0] - (0.9 - half)) < 1e-9 && Math.abs(s.ci95![1] - (0.9 + half)) < 1e-9);
  assert.equal(summarizeValues([0.5]).ci95, null);
  // accuracies: the same interval cut at 100 % (0.9 + 0.248 would read as 114.8 %)
  assert.deepEqual(summarizeValues([0.8, 0.9, 1.0], PROPORTION).ci95, [s.ci95![0], 1]);
  // a constant gain of 5 points on each of 4 paired seeds is significant; noisy gains are not
  const best = new Map([
    ['s0', 0.9],
    ['s1', 0.8],
    ['s2', 0.85],
    ['s3', 0.7],
  ]);
  const worse = new Map([
    ['s0', 0.85],
    ['s1', 0.74],
    ['s2', 0.8],
    ['s3', 0.66],
    ['s9', 0.1],
  ]);
  const d = pairedDifference(worse, best);
  assert.equal(d.n, 4);
  assert.ok(Math.abs(d.mean + 0.05) < 1e-9 && d.significant);
  const noisy = pairedDifference(
    new Map([
      ['s0', 0.95],
      ['s1', 0.7],
      ['s2', 0.9],
      ['s3', 0.65],
    ]),
    best,
  );
  assert.equal(noisy.significant, false);
});

test('--backend k8s writes an Indexed Job that validates against the Kubernetes schema', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest'], 5);
  const sweep = await openSweep(
    validateSweepSpec({ data, model: MODELS.tinyVit, methods: ['linear', 'lora'], seeds: [0, 1], epochs: 1 }),
    join(tempDir(), 'sw'),
  );
  const manifest = k8sJob(sweep, {
    image: 'registry.example/attune:1',
    pvc: 'data',
    gpus: 1,
    cpus: 4,
    mem: '8G',
    parallel: 2,
  });
  new Job(manifest as ConstructorParameters<typeof Job>[0]).validate();
  const spec = manifest.spec as { completions: number; completionMode: string; parallelism: number };
  assert.equal(spec.completionMode, 'Indexed');
  assert.equal(spec.completions, 4);
  assert.equal(spec.parallelism, 2);
  // a wrong field is caught by the same validation
  const broken = structuredClone(manifest) as { spec: { completions: unknown } };
  broken.spec.completions = 'four';
  assert.throws(() => new Job(broken as unknown as ConstructorParameters<typeof Job>[0]).validate());
});

test('the value mapping, balance and selection reach every trial, in-process and as `attune train` flags', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest'], 4);
  const base = { data, model: MODELS.tinyVit, methods: ['linear'], seeds: [0] };
  const mapped = {
    window: 'lung',
    valueOffset: 32768,
    bands: 'all',
    frames: 'all',
    balance: 'weights',
    selectBy: 'macro-f1',
  };
  const spec = validateSweepSpec({ ...base, ...mapped });
  const sweep = await openSweep(spec, join(tempDir(), 'sw'));
  const { trainRequest } = await import('./job');
  const req = trainRequest(sweep.dir, spec, sweep.configs[0], sweep.trials[0], 0);
  assert.deepEqual(req.window, { kind: 'window', center: -600, width: 1500, preset: 'lung' });
  assert.deepEqual(req.bands, { mode: 'all' });
  assert.deepEqual([req.valueOffset, req.frames, req.balance, req.selectBy], [32768, 'all', 'weights', 'macro-f1']);
  const script = readFileSync(join(sweep.dir, 'jobs', '0.sh'), 'utf8');
  for (const flag of [
    "'--window' 'lung'",
    "'--value-offset' '32768'",
    "'--bands' 'all'",
    "'--frames' 'all'",
    "'--balance' 'weights'",
    "'--select-by' 'macro-f1'",
  ])
    assert.ok(script.includes(flag), `${flag} in ${script}`);
  // the rest of a run's recipe, fixed on a method entry (k-fold copies it from the run it cross-validates)
  const recipe = validateSweepSpec({
    ...base,
    methods: [{ method: 'linear', warmupEpochs: 1, labelSmoothing: 0.1, clipNorm: null }],
  });
  const rs = await openSweep(recipe, join(tempDir(), 'sw2'));
  const rr = trainRequest(rs.dir, recipe, rs.configs[0], rs.trials[0], 0);
  assert.deepEqual([rr.warmupEpochs, rr.labelSmoothing, rr.clipNorm], [1, 0.1, null]);
  const rscript = readFileSync(join(rs.dir, 'jobs', '0.sh'), 'utf8');
  for (const flag of ["'--warmup' '1'", "'--label-smoothing' '0.1'", "'--clip-norm' 'none'"])
    assert.ok(rscript.includes(flag), `${flag} in ${rscript}`);
  // a window or band choice the CLI would refuse is refused here, naming the field
  assert.throws(() => validateSweepSpec({ ...base, window: 'lungs' }), /window: --window "lungs" is not a window rule/);
  assert.throws(() => validateSweepSpec({ ...base, bands: '4,3' }), /bands: /);
});

test('a sweep on every frame of multi-frame DICOM splits the items its trials train on (dicom-zoo)', async () => {
  const data = join(SHARED, 'datasets', 'dicom-zoo');
  const labels = join(data, 'labels.csv');
  const columns = { path: 'file', label: 'label', group: 'source_image_group' };
  const spec = validateSweepSpec({ data, labels, columns, model: MODELS.tinyVit, methods: ['linear'], frames: 'all' });
  const sweep = await openSweep(spec, join(tempDir(), 'sw'));
  const split = JSON.parse(readFileSync(join(sweep.dir, 'splits', 'split.json'), 'utf8')) as {
    items: { file: string }[];
  };
  const scan = await scanDataset(data, { labels, columns, frames: 'all' });
  assert.deepEqual(split.items.map((i) => i.file).sort(), scan.items.map((i) => i.file).sort());
  assert.ok(
    split.items.some((i) => /::frame=\d+$/.test(i.file)),
    'the frames of multi-frame files are items',
  );
});

test('a folder that cannot be trained on is refused the same way by a sweep and by a run (one class only)', async () => {
  const data = sampleDataset(DATASETS.aid, ['Beach'], 4);
  const refused = (e: unknown) =>
    e instanceof AttuneError && e.code === 'dataset-invalid' && /Only one class \(Beach\)/.test(e.message);
  await assert.rejects(
    openSweep(validateSweepSpec({ data, model: MODELS.tinyVit, methods: ['linear'] }), join(tempDir(), 'sw')),
    refused,
  );
  const { trainRun } = await import('../train/trainer');
  await assert.rejects(
    trainRun({ data, model: MODELS.tinyVit, method: 'linear', epochs: 1, outDir: join(tempDir(), 'run') }),
    refused,
  );
});
