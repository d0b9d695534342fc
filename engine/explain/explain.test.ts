/**
 * Grad-CAM through Attune's autodiff on real models: the real pretrained ViT-Tiny with its ImageNet head on
 * the 17 ImageNet probe photos (faithfulness by deletion), and MobileNetV2's last spatial map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createExplainer } from './gradcam';
import { deletionCheck } from './faithfulness';
import { loadImageTensor } from '../data/image';
import { MODELS, PROBE_DIR } from '../testing/fixtures';

const probes = readdirSync(PROBE_DIR).filter((f) => f.endsWith('.JPEG')).map((f) => join(PROBE_DIR, f));

test('ViT-Tiny (real ImageNet head): deleting the 20 % most salient pixels lowers p(class) more than 20 % random pixels', async () => {
  const ex = await createExplainer(MODELS.vitTiny);
  assert.equal(ex.target.kind, 'vit');
  assert.deepEqual([ex.target.h, ex.target.w], [14, 14]);
  const files = probes.slice(0, 8);
  const rs = [];
  for (const f of files) rs.push(await deletionCheck(ex, f, await loadImageTensor(f, ex.preprocessing)));
  await ex.release();
  const mean = (k: 'salientDeleted' | 'randomDeleted') => rs.reduce((a, r) => a + (r.original - r[k]), 0) / rs.length;
  console.log(`ViT-Tiny on ${rs.length} probe photos: mean drop of p(class) deleting 20 % salient ${mean('salientDeleted').toFixed(3)}, random ${mean('randomDeleted').toFixed(3)}`);
  for (const r of rs) console.log(`  ${r.file.split('/').pop()}: p ${r.original.toFixed(3)} → salient ${r.salientDeleted.toFixed(3)}, random ${r.randomDeleted.toFixed(3)}`);
  assert.ok(mean('salientDeleted') > mean('randomDeleted'));
});
