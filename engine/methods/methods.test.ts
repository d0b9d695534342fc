/**
 * Defining properties of the fine-tuning methods (METHODS.md), with real onnxruntime on the 32×32 fixtures,
 * and every method end to end: train one epoch on a small real sample, export (exportRun reloads the file in
 * a fresh session and checks it reproduces the engine's predictions), and for GPS rebuild it from the patch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBackbone, withNewHead } from '../backbone/load';
import { FEATURES, LOGITS, type PreparedBackbone } from '../backbone/prepare';
import { exportRun } from '../export/export';
import { foldConstants } from '../ir/fold';
import { cloneModel, pruneDead } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import { loadModel } from '../onnx/io';
import { compileEvalProgram, compileTrainProgram } from '../programs/compile';
import { createSession } from '../runtime/session';
import { loadCheckpoint } from '../run/checkpoint';
import { runFiles } from '../run/spec';
import { trainRun } from '../train/trainer';
import { mulberry32 } from '../util/random';
import { rebuildFromGpsPatch } from '../api';
import type { GpsState } from './gps/weights';
import { accumulateGradients, compileSelectionProgram, SUPCON_TAU, topKPerRow } from './gps/select';
import { flatIndex } from './layers';
import { lora } from './lora';
import { noiseTensor, pace, paceSigmas } from './pace/index';
import { METHODS } from './registry';

const TINY_VIT = '../shared/models/tiny-vit-random.onnx';
const TINY_CNN = '../shared/models/tiny-cnn-random.onnx';

function sample(classes = 3, per = 6): string {
  const src = '../shared/datasets/aid-satellite-subset';
  const dir = mkdtempSync(join(tmpdir(), 'attune-methods-'));
  for (const c of readdirSync(src).sort().slice(0, classes)) {
    mkdirSync(join(dir, 'data', c), { recursive: true });
    for (const f of readdirSync(join(src, c)).sort().slice(0, per))
      copyFileSync(join(src, c, f), join(dir, 'data', c, f));
  }
  return dir;
}

async function prepared(path: string, classes = 3): Promise<PreparedBackbone> {
  const bb = await loadBackbone(path);
  return withNewHead(bb, classes, 0);
}

const randomTensor = (dims: number[], rng: () => number, scale = 0.2): Tensor =>
  tensor(
    'float32',
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rng() - 0.5) * scale),
  );

/** Logits of the eval program with `params` vs the method's merged model: max |Δ|. */
async function mergeGap(
  p: PreparedBackbone,
  m: Awaited<ReturnType<typeof lora.prepare>>,
  params: Map<string, Tensor>,
  x: Tensor,
): Promise<number> {
  const ev = await compileEvalProgram(p.model, m.program, x.dims[0]);
  const s = await createSession(ev.model, { provider: 'cpu' });
  const feeds: Record<string, Tensor> = { [ev.imageInput]: x };
  for (const k of ev.trainable) feeds[k] = params.get(k)!;
  const a = (await s.run(feeds, [LOGITS]))[LOGITS].data as Float32Array;
  const merged = m.merge(p.model, params);
  // the merged model has the original op types: no adapter op left
  assert.deepEqual(
    [...new Set(merged.graph.nodes.map((n) => n.op))].sort(),
    [...new Set(p.model.graph.nodes.map((n) => n.op))].sort(),
  );
  const s2 = await createSession(merged, { provider: 'cpu' });
  const bl = (await s2.run({ [ev.imageInput]: x }))[LOGITS].data as Float32Array;
  await Promise.all([s.release(), s2.release()]);
  return Math.max(...Array.from(a, (v, i) => Math.abs(v - bl[i])));
}

async function randomParams(
  p: PreparedBackbone,
  m: Awaited<ReturnType<typeof lora.prepare>>,
  seed: number,
): Promise<Map<string, Tensor>> {
  const ev = await compileEvalProgram(p.model, m.program, 1);
  const rng = mulberry32(seed);
  return new Map(
    ev.trainable.map((k) => [k, randomTensor(ev.model.graph.inputs.find((i) => i.name === k)!.shape as number[], rng)]),
  );
}

test('LoRA: the merged export equals the adapter graph; B = 0 at init', async () => {
  const p = await prepared(TINY_VIT);
  const m = await lora.prepare({ backbone: p, options: {}, seed: 1, batch: 2 });
  const x = randomTensor([2, 3, 32, 32], mulberry32(2), 2);
  assert.ok((await mergeGap(p, m, await randomParams(p, m, 3), x)) < 1e-4);
  const tp = await compileTrainProgram(p.model, m.program, { batch: 2, numClasses: 3, clipNorm: 1 });
  for (const [k, t] of tp.initial)
    if (k.endsWith('::lora_B')) assert.ok((t.data as Float32Array).every((v) => v === 0));
});

test('PACE: Δh = 0 at step 0, merge equals the adapter graph with noise off, noise shape and σ schedule', async () => {
  const p = await prepared(TINY_VIT);
  const m = await pace.prepare({ backbone: p, options: {}, seed: 1, batch: 2 });
  const x = randomTensor([2, 3, 32, 32], mulberry32(2), 2);
  // step 0: Δh = 0, so the adapter graph matches the plain backbone (up to onnxruntime fusing the graphs differently)
  const ev = await compileEvalProgram(p.model, m.program, 2);
  const tp = await compileTrainProgram(p.model, m.program, { batch: 2, numClasses: 3, clipNorm: 1 });
  const s = await createSession(ev.model, { provider: 'cpu' });
  const feeds: Record<string, Tensor> = { [ev.imageInput]: x };
  for (const k of ev.trainable) feeds[k] = tp.initial.get(k)!;
  const adapted = (await s.run(feeds, [LOGITS]))[LOGITS].data as Float32Array;
  const plain = await createSession(p.model, { provider: 'cpu' });
  const ref = (await plain.run({ [ev.imageInput]: x }))[LOGITS].data as Float32Array;
  assert.ok(Math.max(...Array.from(adapted, (v, i) => Math.abs(v - ref[i]))) < 1e-5);
  assert.ok((await mergeGap(p, m, await randomParams(p, m, 3), x)) < 1e-4);
  // the train step takes [B, …] images, runs [x; x]; noise inputs are [2B, out] draws laid out per sample and channel
  const img = tp.model.graph.inputs.find((i) => i.name === tp.imageInput)!;
  assert.equal(img.shape[0], 2);
  const noiseInputs = tp.extraInputs.filter((e) => e.name.startsWith('pace_noise_'));
  assert.ok(noiseInputs.length > 0);
  for (const e of noiseInputs) {
    const dims = e.shape as number[];
    assert.equal(dims.filter((d) => d !== 1).length, 2, `noise ${e.name} [${dims}] has one batch and one channel axis`);
    assert.ok(dims.includes(4), 'batch axis is 2B');
    const z = e.fill!({ epoch: 0, step: 0, seed: 0, batchFiles: [], count: 2 });
    assert.deepEqual(z.dims, dims);
    assert.deepEqual(
      Array.from(e.fill!({ epoch: 0, step: 0, seed: 0, batchFiles: [], count: 2 }).data as Float32Array),
      Array.from(z.data as Float32Array),
      'deterministic',
    );
  }
  // schedule (Vision/train.py): 0, σ, then −σ/L per block
  assert.deepEqual(
    paceSigmas(4, 1.2).map((v) => +v.toFixed(6)),
    [0, 1.2, 0.9, 0.6],
  );
  const z = noiseTensor(
    { name: 'z', layer: 0, sigma: 1.5, shape: [1, 4000, 50], rows: 4000, out: 50 },
    { seed: 3, epoch: 1, step: 2 },
  );
  const d = z.data as Float32Array;
  const mean = d.reduce((a, v) => a + v, 0) / d.length;
  const sd = Math.sqrt(d.reduce((a, v) => a + (v - mean) ** 2, 0) / d.length);
  assert.ok(Math.abs(mean - 1) < 0.02 && Math.abs(sd - 1.5) < 0.02, `z ~ N(1, 1.5²): mean ${mean}, sd ${sd}`);
  // first block: σ = 0, so no noise input for its layers
  assert.ok(tp.extraInputs.every((e) => !/pace_noise_[0-3]$/.test(e.name)));
  await Promise.all([s.release(), plain.release()]);
});

test('PACE with λ = 0 (its base adapter, noisy or not) trains on one pass: no doubled batch, no consistency term', async () => {
  const p = await prepared(TINY_VIT);
  const m = await pace.prepare({ backbone: p, options: { lambda: 0 }, seed: 1, batch: 2 });
  const tp = await compileTrainProgram(p.model, m.program, { batch: 2, numClasses: 3, clipNorm: 1 });
  assert.ok(tp.extraInputs.length > 0);
  for (const e of tp.extraInputs)
    assert.ok((e.shape as number[]).includes(2) && !(e.shape as number[]).includes(4), `${e.name} [${e.shape}]`);
  assert.ok(!tp.model.graph.nodes.some((n) => n.op === 'Concat' && n.name === 'pace_concat'));
  assert.deepEqual(
    tp.scalars.filter((k) => /pace/.test(k)),
    [],
  );
});

/** SupCon on host in float64 (the straightforward reference). */
function supconHost(f: Float32Array, labels: number[], dim: number, tau: number): number {
  const M = labels.length;
  const z = Array.from({ length: M }, (_, i) => {
    const row = Array.from(f.subarray(i * dim, (i + 1) * dim));
    const n = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    return row.map((v) => v / n);
  });
  let total = 0;
  let anchors = 0;
  for (let i = 0; i < M; i++) {
    const pos = labels.map((l, j) => j !== i && l === labels[i]);
    const np = pos.filter(Boolean).length;
    if (!np) continue;
    const s = z.map((zj) => zj.reduce((a, v, k) => a + v * z[i][k], 0) / tau);
    const lse = Math.log(s.reduce((a, v, j) => (j === i ? a : a + Math.exp(v)), 0));
    total += -s.reduce((a, v, j) => (pos[j] ? a + v - lse : a), 0) / np;
    anchors++;
  }
  return total / anchors;
}

/** The fixture with every float parameter nudged: tiny-vit-random has an all-zero head and class token. */
async function perturbed(path: string): Promise<PreparedBackbone> {
  const p = await prepared(path);
  const rng = mulberry32(11);
  for (const [k, t] of p.model.graph.initializers)
    if (t.dtype === 'float32' && t.dims.length > 0)
      p.model.graph.initializers.set(
        k,
        tensor(
          'float32',
          t.dims,
          Array.from(t.data as Float32Array, (v) => v + (rng() - 0.5) * 0.1),
        ),
      );
  return p;
}

for (const [fixture, path] of [
  ['CNN', TINY_CNN],
  ['ViT', TINY_VIT],
] as const)
  test(`GPS selection (${fixture} fixture): SupCon gradients match central differences of a host reference; exactly K per neuron, lowest-index ties`, async () => {
    const p = fixture === 'ViT' ? await perturbed(path) : await prepared(path);
    // 6 rows run the backward in halves, 8 in quarters (the selection pass's chunks): both must be exact
    const M = fixture === 'ViT' ? 8 : 6;
    const labels = Array.from({ length: M }, (_, i) => i % (M / 2)); // two views each of M/2 images
    const rng = mulberry32(7);
    const x = randomTensor([M, 3, 32, 32], rng, 2);
    const prog = await compileSelectionProgram(p.model, M);
    async function* one() {
      yield { x: x.data as Float32Array, labels: Int32Array.from(labels), count: M };
    }
    const G = await accumulateGradients(prog, one(), 3 * 32 * 32);
    // the reference: features with one weight matrix as an input, SupCon on the host in float64
    for (const w of [prog.weights[0], prog.weights[prog.weights.length - 1]]) {
      const m = cloneModel(p.model);
      const { model } = await foldConstants(m, { [m.graph.inputs[0].name]: [M, 3, 32, 32] });
      const w0 = model.graph.initializers.get(w.name)!;
      model.graph.initializers.delete(w.name);
      model.graph.inputs.push({ name: w.name, dtype: 'float32', shape: w0.dims });
      model.graph.outputs = [{ name: FEATURES, dtype: 'float32', shape: [M, p.featureDim] }];
      pruneDead(model.graph);
      const s = await createSession(model, { provider: 'cpu' });
      const loss = async (data: Float32Array) =>
        supconHost(
          (await s.run({ [model.graph.inputs[0].name]: x, [w.name]: tensor('float32', w0.dims, data) }, [FEATURES]))[
            FEATURES
          ].data as Float32Array,
          labels,
          p.featureDim,
          SUPCON_TAU,
        );
      const g = G.get(w.name)!;
      for (const r of [0, w.rows - 1]) {
        const fd: number[] = [];
        for (let c = 0; c < w.cols; c++) {
          const at = flatIndex(w, r, c);
          const h = 1e-2 * Math.max(1e-2, Math.abs((w0.data as Float32Array)[at]));
          const plus = new Float32Array(w0.data as Float32Array);
          plus[at] += h;
          const minus = new Float32Array(w0.data as Float32Array);
          minus[at] -= h;
          fd.push(((await loss(plus)) - (await loss(minus))) / (plus[at] - minus[at]));
        }
        const top = Math.max(...fd.map(Math.abs));
        const picked = topKPerRow(g, w, 1)[r];
        assert.ok(
          Math.abs(fd[picked]) >= 0.97 * top,
          `${w.name} row ${r}: picked column ${picked} (|fd| ${Math.abs(fd[picked])}) but max |fd| is ${top}`,
        );
        const rowG = Array.from({ length: w.cols }, (_, c) => g[flatIndex(w, r, c)]);
        const err = Math.max(...rowG.map((v, c) => Math.abs(v - fd[c]))) / top;
        assert.ok(err < 0.05, `${w.name} row ${r}: analytic vs finite differences rel. error ${err}`);
      }
      await s.release();
    }
    // top-K: exactly K distinct entries per row, the largest |G|, ties to the lowest index
    const toy = { rows: 2, cols: 5, layout: 'out-in' as const };
    assert.deepEqual(Array.from(topKPerRow([1, -3, 3, 0, 2, 0, 0, 0, 0, 0], toy, 2)), [1, 2, 0, 1]);
  });

test('every method trains one epoch and exports a model that reproduces the engine; GPS patch rebuilds it byte for byte', async () => {
  const dir = sample();
  const data = join(dir, 'data');
  for (const m of METHODS) {
    for (const spd of m.name === 'gps' ? [false, true] : [false]) {
      const out = join(dir, `${m.name}${spd ? '-spd' : ''}`);
      const events: { type: string; diagnostics?: Record<string, number> }[] = [];
      const r = await trainRun(
        {
          data,
          model: TINY_VIT,
          method: m.name,
          epochs: 1,
          batch: 4,
          seed: 1,
          outDir: join(out, 'run'),
          optimizer: spd ? 'spd' : undefined,
          spdLambda: 1,
        },
        { onEvent: (e) => events.push(e) },
      );
      assert.equal(r.status, 'done', m.name);
      const exp = await exportRun(r.runDir, join(out, 'export'));
      assert.ok(exp.maxAbsDiff < 1e-4, `${m.name}: export differs by ${exp.maxAbsDiff}`);
      const epoch = events.find((e) => e.type === 'epoch')!;
      // --optimizer spd, or the spd method (full fine-tuning declared with the SPD optimizer)
      if (spd || m.optimizer === 'spd')
        assert.ok(
          'spd_projected' in epoch.diagnostics! && epoch.diagnostics!.spd_tensors > 0,
          `${m.name}: SPD reports projections`,
        );
      if (spd) {
        // both shares METHODS.md asks for: condition held, and projection actually applied (never more often)
        const d = epoch.diagnostics!;
        assert.ok(
          d.spd_condition >= 0 && d.spd_condition <= 1 && d.spd_projected >= 0 && d.spd_projected <= d.spd_condition,
          JSON.stringify(d),
        );
      }
      if (m.name === 'pace') assert.ok(epoch.diagnostics!.fp_distance > 0 && 'pace_term' in epoch.diagnostics!);
      if (m.name !== 'gps') continue;
      // GPS: K = 1 per neuron; every unselected entry bit-identical to the backbone; patch → identical file
      const state = JSON.parse(readFileSync(runFiles(r.runDir).methodState, 'utf8')) as GpsState;
      const exported = loadModel(exp.modelPath);
      const p = await prepared(TINY_VIT);
      let changedSelected = 0;
      for (const w of state.matrices) {
        assert.equal(w.idx.length, w.rows, 'one entry per neuron');
        const sel = new Set(Array.from({ length: w.rows }, (_, r) => flatIndex(w, r, w.idx[r])));
        const before = new Uint32Array((p.model.graph.initializers.get(w.name)!.data as Float32Array).slice().buffer);
        const after = new Uint32Array((exported.graph.initializers.get(w.name)!.data as Float32Array).slice().buffer);
        for (let i = 0; i < before.length; i++) {
          if (!sel.has(i)) assert.equal(after[i], before[i], `${w.name}[${i}] moved but was not selected`);
          else if (after[i] !== before[i]) changedSelected++;
        }
      }
      assert.ok(changedSelected > 0, 'selected weights trained');
      assert.ok(Object.keys(state.blockCounts).length >= 2);
      const shown = events.find((e) => e.type === 'selection') as unknown as
        { perBlock: Record<string, number> } | undefined;
      assert.deepEqual(shown?.perBlock, state.blockCounts, 'per-block selection counts are streamed to the user');
      const ck = await loadCheckpoint(runFiles(r.runDir).best);
      assert.ok([...ck.tensors.keys()].some((k) => k.endsWith('::gps_delta')));
      // what `attune apply-patch` runs
      const path = await rebuildFromGpsPatch(TINY_VIT, exp.extraFiles[0], join(out, 'rebuilt.onnx'));
      assert.ok(
        Buffer.compare(readFileSync(path), readFileSync(exp.modelPath)) === 0,
        'apply-patch rebuilds the exported file byte for byte',
      );
    }
  }
});

test('ViT-Tiny/16: PACE and LoRA adapters cover qkv, proj, fc1, fc2 of all 12 blocks and merge exactly', async () => {
  const p = await prepared('../shared/models/vit-tiny-patch16-224.onnx', 4);
  const x = randomTensor([1, 3, 224, 224], mulberry32(4), 2);
  for (const method of [pace, lora]) {
    const m = await method.prepare({ backbone: p, options: {}, seed: 1, batch: 1 });
    assert.equal(m.state.adaptedLayers ?? m.state.layers, 48);
    assert.ok((await mergeGap(p, m, await randomParams(p, m, 5), x)) < 1e-4, method.name);
  }
});

test("each method card's trainable-parameter count is exactly what its compiled program trains", async () => {
  const { compileTrainProgram } = await import('../programs/compile');
  const p = await prepared(TINY_VIT);
  for (const m of METHODS.filter((x) => x.name !== 'gps')) {
    const mp = await m.prepare({ backbone: p, options: {}, seed: 0, batch: 2 });
    const prog = await compileTrainProgram(p.model, mp.program, { batch: 2, numClasses: p.numClasses, clipNorm: 1 });
    const trained = [...prog.initial.values()].reduce((n, t) => n + t.data.length, 0);
    assert.equal(m.trainableParameters(p.model.graph, {}), trained, m.name);
  }
});
