/**
 * End-to-end on the formats radiologists and remote-sensing analysts bring: train → export → predict
 * with the real ViT-Tiny on small samples of ct-contrast-dicom (patients as split groups, no patient
 * identifier in anything written) and eurosat-ms (13-band GeoTIFF, bands mapped to RGB and all bands
 * through a widened first convolution). Tiny epochs: the export/predict contract is the point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { trainRun } from './trainer';
import { exportRun } from '../export/export';
import { predictFiles } from '../predict/predict';
import { decodeModel } from '../onnx/io';
import { readDicomHeader } from '../data/dicom';
import { loadRunSpec } from '../run/spec';
import { MODELS, SHARED, tempDir } from '../testing/fixtures';
import type { EngineEvent } from '../events';
import { estimateRunMemory } from '../run/memory-estimate';
import { scanDataset } from '../data/scan';
import { previewRgbImage } from '../data/preview';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Paths, sizes, mtimes and contents: any write to the folder changes it. */
function folderState(dir: string): string {
  const h = createHash('sha256');
  for (const f of listFiles(dir).sort()) {
    const st = statSync(f);
    h.update(`${relative(dir, f)}\t${st.size}\t${st.mtimeMs}\n`).update(readFileSync(f));
  }
  return h.digest('hex');
}

test('ct-contrast-dicom: patients stay in one split, no identifier leaves the data, export → predict applies the same window', async () => {
  const src = join(SHARED, 'datasets/ct-contrast-dicom');
  const data = tempDir('attune-ct-');
  // 16 slices per class; PACS-style copies without extension for half of them
  const ids = new Set<string>();
  for (const cls of ['CONTRAST_0', 'CONTRAST_1']) {
    mkdirSync(join(data, cls));
    const files = readdirSync(join(src, cls)).sort().slice(0, 16);
    for (const [k, f] of files.entries()) {
      const h = await readDicomHeader(join(src, cls, f));
      for (const id of [h.patientId, h.studyInstanceUid, h.seriesInstanceUid]) if (id) ids.add(id);
      copyFileSync(join(src, cls, f), join(data, cls, k % 2 ? f.replace(/\.dcm$/, '') : f));
    }
  }
  assert.ok(ids.size > 10, 'real identifiers to look for');
  const before = folderState(data);
  const out = tempDir('attune-ct-run-');
  const cacheDir = join(out, 'scan-cache');
  const r = await trainRun(
    {
      data,
      model: MODELS.vitTiny,
      method: 'linear',
      epochs: 2,
      batch: 8,
      seed: 1,
      outDir: join(out, 'run'),
      window: { kind: 'window', center: 50, width: 350, preset: 'mediastinum' },
    },
    { scanCacheDir: cacheDir },
  );
  assert.equal(r.status, 'done');
  assert.equal(folderState(data), before, 'the dataset folder is unchanged after scan and train');

  // every patient (pseudonymised PatientID) lies in exactly one split
  const split = JSON.parse(readFileSync(join(r.runDir, 'split.json'), 'utf8')) as {
    items: { file: string; split: string; group?: string }[];
  };
  assert.equal(split.items.length, 32);
  const splitsOf = new Map<string, Set<string>>();
  for (const it of split.items) {
    assert.ok(it.group && /^pt-[0-9a-f]{16}$/.test(it.group), `pseudonymised group ${it.group}`);
    splitsOf.set(it.group, (splitsOf.get(it.group) ?? new Set()).add(it.split));
  }
  assert.ok(splitsOf.size >= 8 && splitsOf.size < 32, `${splitsOf.size} patients`);
  for (const [g, s] of splitsOf) assert.equal(s.size, 1, `patient ${g} in ${[...s].join(' and ')}`);

  const exp = await exportRun(r.runDir, join(out, 'export'));
  assert.ok(exp.maxAbsDiff < 1e-4);
  const m = decodeModel(readFileSync(exp.modelPath));
  const spec = await loadRunSpec(r.runDir);
  assert.deepEqual(
    JSON.parse(m.metadata['attune.preprocessing']),
    spec.preprocessing,
    "the export records the run's pipeline",
  );
  assert.deepEqual(spec.preprocessing.values.voi, { kind: 'window', center: 50, width: 350, preset: 'mediastinum' });
  assert.match(m.metadata['attune.value_mapping'], /modality LUT.*C 50 \/ W 350.*MONOCHROME1/);
  assert.match(readFileSync(exp.cardPath, 'utf8'), /window C 50 \/ W 350 \(mediastinum\)/);

  // predict reads the window back from the metadata: same probabilities with and without extension,
  // and overriding the window changes them (so the recorded window is what was applied)
  const test = split.items.filter((i) => i.split === 'test').map((i) => join(data, i.file));
  const withExt = test.find((f) => f.endsWith('.dcm'))!;
  const bare = join(out, 'pacs-export-no-extension');
  copyFileSync(withExt, bare);
  const [a, b] = await predictFiles(exp.modelPath, [withExt, bare]);
  assert.deepEqual(a.top, b.top);
  const [c] = await predictFiles(exp.modelPath, [withExt], { window: { kind: 'window', center: -600, width: 1500 } });
  assert.notDeepEqual(
    c.top.map((t) => t.probability),
    a.top.map((t) => t.probability),
  );
  const preds = await predictFiles(exp.modelPath, test);
  const labels = split.items.filter((i) => i.split === 'test').map((i) => i.file.split('/')[0]);
  const acc = preds.filter((p, i) => p.label === labels[i]).length / preds.length;
  assert.equal(acc, r.test!.accuracy, 'predict agrees with the engine evaluation');

  // privacy: no PatientID / StudyInstanceUID / SeriesInstanceUID in the run folder, the export or the scan cache
  for (const f of [...listFiles(r.runDir), ...listFiles(join(out, 'export')), ...listFiles(cacheDir)]) {
    const text = readFileSync(f).toString('latin1');
    for (const id of ids) assert.ok(!text.includes(id), `${relative(out, f)} contains a patient identifier`);
  }
});

for (const bands of ['4,3,2', 'all'] as const) {
  test(`eurosat-ms, --bands ${bands}: per-band scaling fitted on train, export takes ${bands === 'all' ? 13 : 3} channels, predict on .tif`, async () => {
    const src = join(SHARED, 'datasets/eurosat-ms');
    const data = tempDir('attune-ms-');
    for (const cls of ['Forest', 'Industrial', 'SeaLake']) {
      mkdirSync(join(data, cls));
      for (const f of readdirSync(join(src, cls)).sort().slice(0, 10))
        copyFileSync(join(src, cls, f), join(data, cls, f));
    }
    const before = folderState(data);
    const out = tempDir('attune-ms-run-');
    const selection =
      bands === 'all'
        ? { mode: 'all' as const }
        : { mode: 'map' as const, bands: [4, 3, 2] as [number, number, number] };
    const method = bands === 'all' ? 'bitfit' : 'linear';
    const events: EngineEvent[] = [];
    const r = await trainRun(
      { data, model: MODELS.vitTiny, method, epochs: 1, batch: 8, seed: 2, outDir: join(out, 'run'), bands: selection },
      { scanCacheDir: join(out, 'cache'), onEvent: (e) => events.push(e) },
    );
    assert.equal(r.status, 'done');
    if (bands === 'all') {
      // the estimate before a run counts the widened program too: what the run itself then counted (within the 3 %
      // of scaling from batch 32 to 8), and more than for three channels
      const own = events.find((e) => e.type === 'memory');
      assert.ok(own && own.type === 'memory');
      const ask = { modelPath: MODELS.vitTiny, method, batchSize: 8, numClasses: 3 };
      const widened = (await estimateRunMemory({ ...ask, bands: 'all', bandCount: 13 })).notice!.estimatedBytes;
      assert.ok(
        Math.abs(widened / own.estimatedBytes - 1) < 0.03,
        `${widened} against the run's ${own.estimatedBytes}`,
      );
      assert.ok(widened > (await estimateRunMemory(ask)).notice!.estimatedBytes);
    }
    assert.equal(folderState(data), before);
    const spec = await loadRunSpec(r.runDir);
    const b = spec.preprocessing.values.bands!;
    assert.deepEqual(b.selection, selection);
    assert.equal(b.bandCount, 13);
    assert.equal(b.scaling!.valueScale, 1e-4, 'Sentinel-2 reflectance');
    const split = JSON.parse(readFileSync(join(r.runDir, 'split.json'), 'utf8')) as {
      items: { file: string; split: string }[];
    };
    assert.equal(
      b.scaling!.rasters,
      split.items.filter((i) => i.split === 'train').length,
      'fitted on the training split only',
    );

    const exp = await exportRun(r.runDir, join(out, 'export'));
    assert.ok(exp.maxAbsDiff < 1e-4, `export matches engine (${exp.maxAbsDiff})`);
    const m = decodeModel(readFileSync(exp.modelPath));
    const C = bands === 'all' ? 13 : 3;
    assert.equal(m.graph.inputs[0].shape[1], C);
    assert.equal(m.metadata['attune.input_channels'], String(C));
    assert.deepEqual(
      JSON.parse(m.metadata['attune.preprocessing']).values.bands,
      b,
      'band selection and fitted scaling in the metadata',
    );
    if (bands === 'all') assert.ok(m.metadata['attune.input_widened'], 'widening recorded');
    const test = split.items.filter((i) => i.split === 'test');
    const preds = await predictFiles(
      exp.modelPath,
      test.map((i) => join(data, i.file)),
    );
    assert.equal(preds.length, test.length);
    const acc = preds.filter((p, i) => p.label === test[i].file.split('/')[0]).length / preds.length;
    assert.equal(acc, r.test!.accuracy, 'predict agrees with the engine evaluation');
  });
}

/**
 * Four bands as satellites store them (blue, green, red, near-infrared: PlanetScope's order), written from EuroSAT-MS's
 * B02, B03, B04, B08 with geotiff.js: libvips sees grey plus three extra bands, not RGBA.
 */
async function fourBandDataset(): Promise<string> {
  const { fromFile, writeArrayBuffer } = await import('geotiff');
  const { writeFileSync } = await import('node:fs');
  const src = join(SHARED, 'datasets/eurosat-ms');
  const data = tempDir('attune-bgrn-');
  for (const cls of ['Forest', 'SeaLake']) {
    mkdirSync(join(data, cls));
    for (const f of readdirSync(join(src, cls)).sort().slice(0, 6)) {
      const img = await (await fromFile(join(src, cls, f))).getImage();
      const bands = (await img.readRasters()) as unknown as Uint16Array[];
      const n = img.getWidth() * img.getHeight();
      const bgrn = new Uint16Array(n * 4);
      for (let i = 0; i < n; i++) [1, 2, 3, 7].forEach((b, k) => (bgrn[i * 4 + k] = bands[b][i]));
      const tif = await writeArrayBuffer(
        bgrn as never,
        {
          width: img.getWidth(),
          height: img.getHeight(),
          SamplesPerPixel: 4,
          BitsPerSample: [16, 16, 16, 16],
          PhotometricInterpretation: 1,
        } as never,
      );
      writeFileSync(join(data, cls, f), Buffer.from(tif));
    }
  }
  return data;
}

test('4-band GeoTIFFs (blue, green, red, near-infrared) are multispectral, not RGBA: bands chosen, trained, predicted', async () => {
  const data = await fourBandDataset();
  const report = await scanDataset(data, { cache: false });
  assert.equal(report.total, 12);
  assert.deepEqual([report.bands?.bands, report.bands?.sentinel2], [4, false]);
  // not Sentinel-2: no default, the run says to choose
  const out = tempDir('attune-bgrn-run-');
  await assert.rejects(
    trainRun({ data, model: MODELS.tinyVit, method: 'linear', epochs: 1, batch: 4, outDir: join(out, 'none') }),
    (e: unknown) => e instanceof Error && /4 bands; choose how they feed the model/.test(e.message),
  );
  // red, green, blue are its bands 3, 2, 1
  const selection = { mode: 'map' as const, bands: [3, 2, 1] as [number, number, number] };
  const r = await trainRun({
    data,
    model: MODELS.tinyVit,
    method: 'linear',
    epochs: 1,
    batch: 4,
    outDir: join(out, 'run'),
    bands: selection,
  });
  assert.equal(r.status, 'done');
  const b = (await loadRunSpec(r.runDir)).preprocessing.values.bands!;
  assert.deepEqual([b.selection, b.bandCount], [selection, 4]);
  // the preview through bands 3, 2, 1 is in colour, not the first band in grey
  const rgb = await previewRgbImage(join(data, 'Forest', readdirSync(join(data, 'Forest')).sort()[0]), {
    bands: selection,
    size: 32,
  });
  let colour = 0;
  for (let i = 0; i < rgb.data.length; i += 3) colour += Math.abs(rgb.data[i] - rgb.data[i + 1]);
  assert.ok(colour > 0, 'red and green differ');
  const exp = await exportRun(r.runDir, join(out, 'export'));
  const preds = await predictFiles(exp.modelPath, [join(data, 'SeaLake', readdirSync(join(data, 'SeaLake'))[0])]);
  assert.equal(preds.length, 1);
});
