import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { scanCommand } from '../cli/commands/scan';
import { defaultPreprocessing, VIT_NORMALISATION } from '../preprocessing';
import { createBatchLoader } from './loader';
import { scanDataset } from './scan';
import { encodePng, encodeTiff } from './test-fixtures';

const DATASETS = path.resolve(process.cwd(), '../shared/datasets');
let tmp: string;
let cacheDir: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-scan-'));
  cacheDir = path.join(tmp, 'cache');
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const jpeg = (seed: number, size = 32) =>
  sharp({
    create: {
      width: size,
      height: size,
      channels: 3,
      background: { r: (seed * 37) % 256, g: (seed * 91) % 256, b: (seed * 53) % 256 },
    },
  })
    .jpeg()
    .toBuffer();

async function put(root: string, rel: string, data: Buffer | string): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await writeFile(path.join(root, rel), data);
}

/** Paths + contents of every file under `dir` (also hidden ones), to prove nothing was written. */
async function hashTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) h.update(`${path.relative(dir, p)}\0`).update(await readFile(p));
      else h.update(`${path.relative(dir, p)}\0link`);
    }
  };
  await walk(dir);
  return h.digest('hex');
}

/** A class-folder dataset with one of every problem. */
async function messyDataset(): Promise<string> {
  const root = path.join(tmp, 'messy');
  for (let i = 0; i < 12; i++) await put(root, `cats/cat ${i} (copy).jpg`, await jpeg(i));
  for (let i = 0; i < 4; i++) await put(root, `dogs/nested/deeper/dog_${i}.jpg`, await jpeg(100 + i));
  await put(root, 'dogs/über-hund 🐕.jpg', await jpeg(200));
  await put(root, 'dogs/16bit.png', encodePng(8, 8, 'grey', 16, Array(64).fill(40000)));
  await put(root, 'dogs/16bit.tif', encodeTiff(8, 8, 3, 16, Array(192).fill(30000)));
  await put(root, 'dogs/grey-alpha.png', encodePng(8, 8, 'grey-alpha', 8, Array(128).fill(9)));
  await put(root, 'dogs/rgba.png', encodePng(8, 8, 'rgba', 8, Array(256).fill(200)));
  await put(root, 'dogs/palette.png', encodePng(8, 8, 'palette', 8, Array(64).fill(0), [1, 2, 3]));
  await put(root, 'dogs/zero.jpg', Buffer.alloc(0));
  const full = await jpeg(300, 64);
  await put(root, 'dogs/cut.jpg', full.subarray(0, full.length - 200));
  await put(root, 'dogs/actually-png.jpg', encodePng(8, 8, 'grey', 8, Array(64).fill(1)));
  await put(root, 'dogs/garbage.png', Buffer.from('this is not an image at all, just text'.repeat(4)));
  const bmp = Buffer.alloc(80);
  bmp.write('BM', 0);
  await put(root, 'dogs/old.bmp', bmp);
  const dcm = Buffer.alloc(400);
  dcm.write('DICM', 128);
  await put(root, 'dogs/scan.dcm', dcm);
  await put(root, 'dogs/bands.tif', encodeTiff(4, 4, 6, 8, Array(96).fill(1)));
  await put(root, 'dogs/dup-of-cat.jpg', await jpeg(3)); // identical to cats/cat 3
  await put(root, 'birds/only.jpg', await jpeg(400)); // a class of one
  await mkdir(path.join(root, 'empty-class'), { recursive: true });
  await put(root, '.DS_Store', 'x');
  await put(root, 'cats/._cat 1 (copy).jpg', 'appledouble');
  await put(root, 'cats/Thumbs.db', 'x');
  await put(root, 'cats/notes.txt', 'hello');
  await symlink('..', path.join(root, 'cats', 'loop')); // symlink loop back to the root
  return root;
}

test('scan reports every kind of bad file, never writes to the folder, and loader skips bad files', async () => {
  const root = await messyDataset();
  const before = await hashTree(root);
  const events: string[] = [];
  const progress: number[] = [];
  const r = await scanDataset(root, {
    cacheDir,
    onEvent: (e) => {
      events.push(e.type);
      if (e.type === 'progress' && e.phase === 'scan') progress.push(e.done);
    },
  });
  assert.equal(r.layout.kind, 'class-folders');
  const byFile = new Map(r.problems.map((p) => [p.file, p]));
  const kind = (f: string) => byFile.get(f)?.kind;
  assert.equal(kind('dogs/zero.jpg'), 'empty');
  assert.equal(kind('dogs/cut.jpg'), 'truncated');
  assert.equal(kind('dogs/actually-png.jpg'), 'mislabelled-extension');
  assert.equal(byFile.get('dogs/actually-png.jpg')?.excluded, false);
  assert.equal(kind('dogs/garbage.png'), 'unreadable');
  assert.equal(kind('dogs/old.bmp'), 'unsupported');
  assert.match(byFile.get('dogs/old.bmp')!.message, /BMP/);
  // DICOM is read now: a 'DICM' preamble with nothing after it is a cut-short DICOM file
  assert.equal(kind('dogs/scan.dcm'), 'truncated');
  assert.match(byFile.get('dogs/scan.dcm')!.message, /DICOM|cut short|truncated/i);
  assert.equal(kind('dogs/bands.tif'), 'unsupported');
  assert.equal(kind('cats/loop'), 'symlink-loop');
  assert.ok(['dogs/dup-of-cat.jpg', 'cats/cat 3 (copy).jpg'].some((f) => kind(f) === 'duplicate'));
  assert.equal(r.duplicates.length, 1);
  assert.ok(
    !r.problems.some((p) => /DS_Store|Thumbs|\._|notes/.test(p.file)),
    'hidden and non-image files are ignored silently',
  );
  // usable: 12 cats, 4 nested dogs + unicode + 16-bit png/tif + grey-alpha + rgba + palette + mislabelled + dup, 1 bird
  assert.deepEqual(
    r.classes.map((c) => [c.name, c.count]),
    [
      ['birds', 1],
      ['cats', 12],
      ['dogs', 12],
    ],
  );
  assert.equal(r.total, 25);
  assert.ok(r.items.some((i) => i.file === 'dogs/über-hund 🐕.jpg'));
  assert.equal(r.images.bitDepths['16'], 2);
  const issue = (k: string) => r.issues.find((i) => i.kind === k);
  assert.equal(issue('too-few-images')?.class, 'birds');
  assert.equal(issue('too-few-images')?.severity, 'error');
  assert.equal(issue('empty-class')?.class, 'empty-class');
  assert.match(issue('imbalance')!.message, /12\.0:1/);
  assert.ok(progress.length > 0 && events.includes('progress'));

  // cached second scan; cache lives outside the dataset
  const again = await scanDataset(root, { cacheDir });
  assert.equal(again.fromCache, true);
  assert.equal(again.total, r.total);
  assert.ok((await readdir(cacheDir)).length >= 1);

  // a loader pass over every labelled file, including ones the scan excluded
  const classes = r.classes.map((c) => c.name);
  const all = [
    ...r.items.map((i) => ({ file: path.join(root, i.file), label: classes.indexOf(i.label) })),
    { file: path.join(root, 'dogs/cut.jpg'), label: 2 },
    { file: path.join(root, 'dogs/old.bmp'), label: 2 },
  ];
  const left: string[] = [];
  const loader = createBatchLoader({
    items: all,
    pre: defaultPreprocessing(32, VIT_NORMALISATION.mean, VIT_NORMALISATION.std),
    augment: 'natural',
    batchSize: 8,
    seed: 1,
    epoch: 0,
    shuffle: true,
    cache: false,
    onProblem: (p) => left.push(path.basename(p.file)),
  });
  let n = 0;
  for await (const b of loader) {
    assert.equal(b.x.length, b.count * 3 * 32 * 32);
    assert.ok(b.x.every(Number.isFinite));
    n += b.count;
  }
  assert.equal(n, r.total);
  assert.deepEqual(left.sort(), ['cut.jpg', 'old.bmp']);
  assert.equal(await hashTree(root), before, 'the dataset folder was modified');
});

test('split folders (any case, training/validation/testing) are used as the split', async () => {
  const root = path.join(tmp, 'splits');
  let k = 0;
  for (const [dir, n] of [
    ['Training', 12],
    ['Validation', 3],
    ['TESTING', 3],
  ] as const) {
    for (const c of ['a', 'b']) for (let i = 0; i < n; i++) await put(root, `${dir}/${c}/${i}.jpg`, await jpeg(k++));
  }
  await put(root, 'TESTING/a/leak.jpg', await jpeg(0)); // same bytes as Training/a/0.jpg
  await put(root, 'Training/stray.jpg', await jpeg(999));
  const r = await scanDataset(root, { cache: false });
  assert.equal(r.layout.kind, 'split-folders');
  assert.deepEqual(r.layout.splitFolders, { train: 'Training', val: 'Validation', test: 'TESTING' });
  assert.deepEqual(r.splits, { train: 24, val: 6, test: 7 });
  assert.deepEqual(r.classes.find((c) => c.name === 'a')?.splits, { train: 12, val: 3, test: 4 });
  assert.ok(r.problems.some((p) => p.kind === 'leakage' && p.file === 'TESTING/a/leak.jpg'));
  assert.ok(r.duplicates[0].crossSplit);
  assert.ok(r.problems.some((p) => p.kind === 'unlabelled' && p.file === 'Training/stray.jpg'));
});

test('CSV labels: groups, extension-less ids, relative and absolute paths, missing rows', async () => {
  const root = path.join(tmp, 'csv');
  const rows = ['image_id,dx,lesion_id'];
  for (let i = 0; i < 10; i++) {
    await put(root, `images/ISIC_${1000 + i}.jpg`, await jpeg(500 + i));
    rows.push(`ISIC_${1000 + i},${i % 2 ? 'nv' : 'mel'},HAM_${Math.floor(i / 3)}`);
  }
  await put(root, 'more/x.png', encodePng(4, 4, 'grey', 8, Array(16).fill(3)));
  rows.push(`${path.join(root, 'more/x.png')},nv,HAM_9`);
  rows.push('ISIC_404,mel,HAM_404');
  await put(root, 'metadata.csv', `${rows.join('\r\n')}\r\n`);
  const r = await scanDataset(root, { cache: false });
  assert.equal(r.layout.kind, 'labels-file');
  assert.deepEqual(r.layout.columns, { path: 'image_id', label: 'dx', group: 'lesion_id' });
  assert.equal(r.total, 11);
  assert.equal(r.items.find((i) => i.file === 'images/ISIC_1004.jpg')?.group, 'HAM_1');
  assert.ok(r.problems.some((p) => p.kind === 'missing' && p.file === 'ISIC_404'));
  // explicit columns through the CLI, TSV
  await put(
    tmp,
    'labels.tsv',
    `file\tclass\nimages/ISIC_1000.jpg\tmel\nimages/ISIC_1001.jpg\tnv\nimages/ISIC_1002.jpg\tmel\nimages/ISIC_1003.jpg\tnv\n`,
  );
  const out = await captureStdout(() =>
    scanCommand.run([
      '--json',
      '--no-cache',
      '--labels',
      path.join(tmp, 'labels.tsv'),
      '--path-column',
      'file',
      '--label-column',
      'class',
      root,
    ]),
  );
  const json = JSON.parse(out.text);
  assert.equal(json.total, 4);
  assert.deepEqual(json.classes, [
    { name: 'mel', count: 2 },
    { name: 'nv', count: 2 },
  ]);
  assert.equal(json.layout.kind, 'labels-file');
  assert.ok(Array.isArray(json.problems));
  assert.equal(out.code, 0);
});

async function captureStdout(fn: () => Promise<number>): Promise<{ text: string; code: number }> {
  const write = process.stdout.write.bind(process.stdout);
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await fn();
    return { text, code };
  } finally {
    process.stdout.write = write;
  }
}

test('real datasets: BUSI (spaces, parentheses, imbalance, a cross-class duplicate) and AID via the CLI', async () => {
  const busi = await scanDataset(path.join(DATASETS, 'busi-ultrasound'), { cache: false });
  assert.deepEqual(
    busi.classes.map((c) => [c.name, c.count]),
    [
      ['benign', 437],
      ['malignant', 210],
      ['normal', 133],
    ],
  );
  assert.ok(busi.issues.some((i) => i.kind === 'imbalance'));
  assert.ok(busi.duplicates.some((d) => d.conflictingLabels));
  const out = await captureStdout(() =>
    scanCommand.run(['--json', '--cache-dir', cacheDir, path.join(DATASETS, 'aid-satellite-subset')]),
  );
  const aid = JSON.parse(out.text);
  assert.equal(aid.total, 1200);
  assert.equal(aid.classes.length, 30);
  assert.equal(aid.layout.kind, 'class-folders');
  assert.equal(aid.splits, null);
  assert.deepEqual(aid.problems, []);
  const text = await captureStdout(() =>
    scanCommand.run(['--cache-dir', cacheDir, path.join(DATASETS, 'aid-satellite-subset')]),
  );
  assert.match(text.text, /1200 usable images in 30 classes/);
});

/** The command's JSON line (the test runner's own reporting may share stdout while it is captured). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test reads arbitrary fields of the printed report
function jsonLine(text: string): Record<string, any> {
  for (let i = text.indexOf('{"'); i >= 0; i = text.indexOf('{"', i + 1)) {
    const end = text.indexOf('\n', i);
    try {
      return JSON.parse(text.slice(i, end < 0 ? undefined : end));
    } catch {
      // not the command's line
    }
  }
  throw new Error(`no JSON line in ${JSON.stringify(text.slice(0, 200))}`);
}

test('DICOM in a scan: recognised without extension, cut-short and non-image objects reported (skipped, not errors), --json summary with patients', async () => {
  const ct = path.join(DATASETS, 'ct-contrast-dicom');
  const root = await mkdtemp(path.join(os.tmpdir(), 'attune-dcm-scan-'));
  const c0 = (await readdir(path.join(ct, 'CONTRAST_0'))).sort().slice(0, 3);
  const c1 = (await readdir(path.join(ct, 'CONTRAST_1'))).sort().slice(0, 3);
  await mkdir(path.join(root, 'no'), { recursive: true });
  await mkdir(path.join(root, 'yes'), { recursive: true });
  for (const f of c0)
    await writeFile(path.join(root, 'no', f.replace('.dcm', '')), await readFile(path.join(ct, 'CONTRAST_0', f)));
  for (const f of c1) await writeFile(path.join(root, 'yes', f), await readFile(path.join(ct, 'CONTRAST_1', f)));
  const whole = await readFile(path.join(ct, 'CONTRAST_1', c1[0]));
  await writeFile(path.join(root, 'yes', 'cut.dcm'), whole.subarray(0, Math.floor(whole.length / 2)));
  // non-image objects as PACS exports hold them: a DICOMDIR and a structured report, both without extension
  const { element, part10 } = await import('./dicom/test-dicom');
  for (const [name, sop] of [
    ['DICOMDIR', '1.2.840.10008.1.3.10'],
    ['alokaSR', '1.2.840.10008.5.1.4.1.1.88.11'],
  ]) {
    const body = Buffer.concat([
      element(0x0008, 0x0016, 'UI', sop),
      element(0x0008, 0x0060, 'CS', 'OT'),
      element(0x0010, 0x0020, 'LO', 'PATIENT-123'),
    ]);
    await writeFile(path.join(root, 'yes', name), part10(sop, '1.2.840.10008.1.2.1', body));
  }
  const r = await scanDataset(root, { cache: false });
  assert.equal(r.total, 6, JSON.stringify(r.problems));
  assert.deepEqual(
    r.classes.map((c) => [c.name, c.count]),
    [
      ['no', 3],
      ['yes', 3],
    ],
  );
  const kind = (f: string) => r.problems.find((p) => p.file === f)?.kind;
  assert.equal(kind('yes/cut.dcm'), 'truncated');
  assert.equal(kind('yes/alokaSR'), 'skipped');
  assert.match(r.problems.find((p) => p.file === 'yes/alokaSR')!.message, /structured report/);
  assert.equal(kind('yes/DICOMDIR'), 'skipped');
  assert.match(r.problems.find((p) => p.file === 'yes/DICOMDIR')!.message, /DICOMDIR/);
  assert.ok(!JSON.stringify(r).includes('PATIENT-123'), 'no patient id in the report');
  assert.equal(r.dicom?.files, 6);
  assert.deepEqual(r.dicom?.modalities, { CT: 6 });
  assert.ok(r.dicom!.patients >= 1 && r.groups === r.dicom!.patients);
  const out = await captureStdout(() => scanCommand.run(['--json', '--no-cache', '--window', 'lung', root]));
  const json = jsonLine(out.text);
  assert.equal(json.dicom.files, 6);
  assert.equal(json.groups, r.groups);
  assert.deepEqual(json.valueMapping.voi, { kind: 'window', center: -600, width: 1500, preset: 'lung' });
  const bad = await captureStdout(() => scanCommand.run(['--json', '--no-cache', '--window', 'lungs-ish', root]));
  assert.equal(bad.code, 2);
  assert.match(jsonLine(bad.text).error.message, /--window/);
  await rm(root, { recursive: true, force: true });
});

test('multispectral scan: band summary; --bands checked against the band count', async () => {
  const out = await captureStdout(() =>
    scanCommand.run(['--json', '--no-cache', '--bands', '4,3,2', path.join(DATASETS, 'eurosat-ms')]),
  );
  const json = jsonLine(out.text);
  assert.equal(json.total, 100);
  assert.deepEqual(json.bands.bandCounts, { 13: 100 });
  assert.deepEqual(json.valueMapping.bands.selection, { mode: 'map', bands: [4, 3, 2] });
  const bad = await captureStdout(() =>
    scanCommand.run(['--json', '--no-cache', '--bands', '4,3,14', path.join(DATASETS, 'eurosat-ms')]),
  );
  assert.equal(bad.code, 2);
  assert.match(jsonLine(bad.text).error.message, /band 14 of 13/);
});
