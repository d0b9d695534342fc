/**
 * GPS beyond K = 1 and its failure modes (METHODS.md §GPS), with the real selection and trainer on the tiny ViT:
 *  - K = 2 end to end: two distinct entries per neuron, every other entry bit-identical to the backbone after
 *    training, the export reproduces the engine, and the sparse patch rebuilds the export byte for byte;
 *  - clear errors for K wider than a row, a non-finite selection gradient, and a saved selection that does not
 *    cover the graph's weight matrices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackbone, withNewHead } from '../backbone/load';
import { defaultLoader, type BatchLoaderFactory } from '../data/loader';
import type { DatasetSplit } from '../data/split';
import { AttuneError } from '../errors';
import type { Preprocessing } from '../preprocessing';
import { applyGpsPatch } from '../export/apply-gps-patch';
import { exportRun } from '../export/export';
import { loadModel, saveModel } from '../onnx/io';
import { compileTrainProgram } from '../programs/compile';
import { runFiles } from '../run/spec';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';
import { trainRun } from '../train/trainer';
import { GPS_SELECTION_VIEWS, gps } from './gps/index';
import type { GpsState } from './gps/weights';
import { flatIndex, weightMatrices } from './layers';
import type { MethodContext } from './method';

/** View i of a normalised batch is grey when its de-normalised R, G and B planes are equal. */
function isGrey(x: Float32Array, i: number, pre: Preprocessing): boolean {
  const plane = pre.size * pre.size;
  const at = i * 3 * plane;
  for (let j = 0; j < plane; j += 7) {
    const [r, g, b] = [0, 1, 2].map((c) => x[at + c * plane + j] * pre.std[c] + pre.mean[c]);
    if (Math.abs(r - g) > 1e-4 || Math.abs(g - b) > 1e-4) return false;
  }
  return true;
}

const isCode = (code: string) => (e: unknown) => e instanceof AttuneError && e.code === code;

test('GPS with K = 2: two entries per neuron train, all others stay bit-identical; export and patch reproduce it', async () => {
  const data = sampleDataset(DATASETS.aid, ['Airport', 'BareLand', 'Beach'], 6);
  const out = tempDir('attune-gps-k2-');
  // the real loader, watched: the selection pass asks for two SupCon views per image with greyscale p = 0.2
  let views = 0;
  let grey = 0;
  const loader: BatchLoaderFactory = (o) => {
    if (o.views !== 2) return defaultLoader(o);
    assert.deepEqual(o.augment, GPS_SELECTION_VIEWS);
    assert.equal(GPS_SELECTION_VIEWS.grayscale, 0.2);
    return (async function* () {
      for await (const bt of defaultLoader(o)) {
        for (const x of [bt.x, bt.x2!])
          for (let i = 0; i < bt.count; i++) {
            views++;
            if (isGrey(x, i, o.pre)) grey++;
          }
        yield bt;
      }
    })();
  };
  const r = await trainRun(
    {
      data,
      model: MODELS.tinyVit,
      method: 'gps',
      methodOptions: { k: 2 },
      epochs: 1,
      batch: 4,
      seed: 2,
      outDir: join(out, 'run'),
    },
    { loader },
  );
  assert.equal(r.status, 'done');
  const trainImages = (JSON.parse(readFileSync(runFiles(r.runDir).split, 'utf8')) as DatasetSplit).items.filter(
    (i) => i.split === 'train',
  ).length;
  assert.equal(views, 2 * trainImages, 'two views of each training image');
  assert.ok(grey > 0 && grey < views, `some but not all selection views are grey (${grey} of ${views})`);
  const exp = await exportRun(r.runDir, join(out, 'export'));
  assert.ok(exp.maxAbsDiff < 1e-4, `export differs by ${exp.maxAbsDiff}`);
  const state = JSON.parse(readFileSync(runFiles(r.runDir).methodState, 'utf8')) as GpsState;
  assert.equal(state.k, 2);
  const before = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 2).model.graph.initializers;
  const after = loadModel(exp.modelPath).graph.initializers;
  let changed = 0;
  for (const w of state.matrices) {
    assert.equal(w.idx.length, 2 * w.rows, `${w.name}: two entries per neuron`);
    const sel = new Set<number>();
    for (let row = 0; row < w.rows; row++) {
      assert.notEqual(w.idx[2 * row], w.idx[2 * row + 1], `${w.name} row ${row}: distinct entries`);
      for (const j of [0, 1]) sel.add(flatIndex(w, row, w.idx[2 * row + j]));
    }
    const a = new Uint32Array((before.get(w.name)!.data as Float32Array).slice().buffer);
    const b = new Uint32Array((after.get(w.name)!.data as Float32Array).slice().buffer);
    for (let i = 0; i < a.length; i++) {
      if (!sel.has(i)) assert.equal(b[i], a[i], `${w.name}[${i}] moved but was not selected`);
      else if (a[i] !== b[i]) changed++;
    }
  }
  assert.ok(changed > state.matrices.length, `selected entries trained (${changed} changed)`);
  const rebuilt = await applyGpsPatch(MODELS.tinyVit, exp.extraFiles[0]);
  await saveModel(rebuilt, join(out, 'rebuilt.onnx'));
  assert.ok(
    Buffer.compare(readFileSync(join(out, 'rebuilt.onnx')), readFileSync(exp.modelPath)) === 0,
    'patch rebuilds the export byte for byte',
  );
});

test('GPS: K wider than a row, a non-finite gradient, and a selection that misses a matrix are clear errors', async () => {
  const p = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
  const narrowest = Math.min(...weightMatrices(p.model.graph).map((m) => m.cols));
  const batches = (x: Float32Array): MethodContext['trainBatches'] =>
    async function* () {
      yield { x, labels: Int32Array.from([0, 0, 1, 1]), count: 4 };
    };
  const rows = 4 * 3 * 32 * 32;
  await assert.rejects(
    gps.prepare({
      backbone: p,
      options: { k: narrowest + 1 },
      seed: 0,
      batch: 2,
      trainBatches: batches(new Float32Array(rows)),
    }),
    isCode('gps-k-too-large'),
  );
  // a NaN pixel makes every gradient NaN: the selection must stop, not pick index −1
  const x = new Float32Array(rows).map((_, i) => Math.sin(i));
  x[5] = NaN;
  await assert.rejects(
    gps.prepare({ backbone: p, options: {}, seed: 0, batch: 2, trainBatches: batches(x) }),
    isCode('gps-gradient-not-finite'),
  );
  // a selection saved without one of the graph's matrices
  const ok = await gps.prepare({
    backbone: p,
    options: {},
    seed: 0,
    batch: 2,
    trainBatches: batches(x.map((v) => (Number.isNaN(v) ? 0 : v))),
  });
  const state = ok.state as GpsState;
  const partial: GpsState = { ...state, matrices: state.matrices.slice(1) };
  const stale = await gps.prepare({ backbone: p, options: {}, seed: 0, batch: 2 }, partial);
  await assert.rejects(
    compileTrainProgram(p.model, stale.program, { batch: 2, numClasses: 3, clipNorm: null }),
    isCode('gps-state-mismatch'),
  );
});
