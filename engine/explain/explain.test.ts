/**
 * Grad-CAM through Attune's autodiff on real models: the real pretrained ViT-Tiny with its ImageNet head on
 * the 17 ImageNet probe photos (faithfulness by deletion), and MobileNetV2's last spatial map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createExplainer } from './gradcam';
import { deletionCheck, type DeletionResult } from './faithfulness';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { trainRun } from '../train/trainer';
import { exportRun } from '../export/export';
import { DATASETS, sampleDataset, tempDir } from '../testing/fixtures';
import { decodeEvalRgb, loadImageTensor } from '../data/image';
import { displayRgb } from '../data/preview';
import { explainFiles } from './explain';
import { MODELS, PROBE_DIR, SHARED } from '../testing/fixtures';
import { runAttune } from '../testing/cli';

const probes = readdirSync(PROBE_DIR)
  .filter((f) => f.endsWith('.JPEG'))
  .map((f) => join(PROBE_DIR, f));

test('ViT-Tiny (real ImageNet head): deleting the 20 % most salient pixels lowers p(class) more than 20 % random pixels', async () => {
  const ex = await createExplainer(MODELS.vitTiny);
  assert.equal(ex.target.kind, 'vit');
  assert.deepEqual([ex.target.h, ex.target.w], [14, 14]);
  const files = probes.slice(0, 8);
  const rs: DeletionResult[] = [];
  for (const f of files) rs.push(await deletionCheck(ex, f, await loadImageTensor(f, ex.preprocessing)));
  await ex.release();
  const mean = (k: 'salientDeleted' | 'randomDeleted') => rs.reduce((a, r) => a + (r.original - r[k]), 0) / rs.length;
  console.log(
    `ViT-Tiny on ${rs.length} probe photos: mean drop of p(class) deleting 20 % salient ${mean('salientDeleted').toFixed(3)}, random ${mean('randomDeleted').toFixed(3)}`,
  );
  for (const r of rs)
    console.log(
      `  ${r.file.split('/').pop()}: p ${r.original.toFixed(3)} → salient ${r.salientDeleted.toFixed(3)}, random ${r.randomDeleted.toFixed(3)}`,
    );
  assert.ok(mean('salientDeleted') > mean('randomDeleted'));
});

test('attune explain on a MobileNetV2 export (BUSI, short linear probe) writes Grad-CAM PNG overlays of the last 7×7 map', async () => {
  const data = sampleDataset(DATASETS.busi, ['benign', 'malignant', 'normal'], 10);
  const out = tempDir();
  const r = await trainRun({
    data,
    model: MODELS.mobilenet,
    method: 'linear',
    epochs: 2,
    batch: 8,
    lr: 0.01,
    seed: 1,
    outDir: join(out, 'run'),
  });
  const exp = await exportRun(r.runDir, join(out, 'export'), { verifyImages: 2 });
  const images = readdirSync(join(data, 'malignant'))
    .slice(0, 2)
    .map((f) => join(data, 'malignant', f));
  const cli = runAttune(['explain', '--model', exp.modelPath, '--out', join(out, 'cams'), '--json', ...images], {
    strict: true,
  });
  assert.equal(cli.code, 0, cli.stderr);
  const lines = cli.lines as unknown as {
    method: string;
    gridH: number;
    gridW: number;
    heatmap: number[];
    label: string;
    overlayPath: string;
  }[];
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.method, 'cnn');
    assert.deepEqual([l.gridH, l.gridW], [7, 7]);
    assert.equal(l.heatmap.length, 49);
    assert.ok(
      l.heatmap.every((v: number) => v >= 0 && v <= 1) && Math.max(...l.heatmap) === 1,
      'normalised map with a hottest cell',
    );
    assert.ok(['benign', 'malignant', 'normal'].includes(l.label));
    assert.ok(existsSync(l.overlayPath));
    const meta = await sharp(l.overlayPath).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 224, 224]);
  }
});

test("each explanation can carry the model's own view, the square its heatmap covers (a 500×333 photo, a CT slice)", async () => {
  const photo = probes.find((f) => f.endsWith('n01687978_10071.JPEG'))!;
  const ct = join(SHARED, 'datasets', 'ct-contrast-dicom', 'CONTRAST_0', 'ID_0050_AGE_0074_CONTRAST_0_CT.dcm');
  const out = tempDir();
  const ex = await explainFiles(MODELS.vitTiny, [photo, ct], { view: true, outDir: out });
  assert.equal(ex.length, 2);
  const explainer = await createExplainer(MODELS.vitTiny);
  const preprocessing = explainer.preprocessing;
  await explainer.release();
  for (const e of ex) {
    assert.match(e.view!, /^data:image\/jpeg;base64,/);
    const jpeg = Buffer.from(e.view!.split(',')[1], 'base64');
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [224, 224], 'the eval crop, not the whole image');
    // the same pixels the model was given (its centre crop of the shorter-side resize), up to JPEG loss
    const model = displayRgb(await decodeEvalRgb(e.file, preprocessing));
    let diff = 0;
    for (let i = 0; i < data.length; i++) diff += Math.abs(data[i] - model.data[i]);
    assert.ok(diff / data.length < 6, `mean |view − model view| ${(diff / data.length).toFixed(1)}`);
    // a windowed CT slice shows as an image, not black (its values are 0–1 after the window, not 0–255)
    const mean = data.reduce((a, v) => a + v, 0) / data.length;
    assert.ok(mean > 25 && mean < 230, `mean brightness ${mean.toFixed(0)} of ${e.file}`);
    const overlay = await sharp(e.overlayPath!).raw().toBuffer();
    const overlayMean = overlay.reduce((a, v) => a + v, 0) / overlay.length;
    assert.ok(overlayMean > 25, `overlay PNG mean ${overlayMean.toFixed(0)}`);
  }
});
