/**
 * Widening the first convolution to N bands on the real backbones: the widened graphs run in onnxruntime, and the
 * initialisation's exact relations to the original model hold (N = 3 identity, grey replicated, RGB + zeros).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isAttuneError } from '../errors';
import { gradcheckModel } from '../autodiff/testing/model-check';
import { cloneModel, type Model } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import { loadModel, saveModel } from '../onnx/io';
import { createSession } from '../runtime/session';
import { MODELS, tempDir } from '../testing/fixtures';
import { loadBackbone, withNewHead } from './load';
import { LOGITS } from './prepare';
import { widenBackbone, widenedInputOf, widenInput } from './widen-input';

async function run(model: Model, x: Tensor): Promise<Float32Array> {
  const s = await createSession(model, { provider: 'cpu' });
  const out = await s.run({ [model.graph.inputs[0].name]: x });
  await s.release();
  return out[model.graph.outputs[0].name].data as Float32Array;
}

/** max |a − b| relative to max |b| */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** a smooth pseudo-random image [1, C, S, S] in about [-1, 1] */
const image = (c: number, s: number, seed = 1) =>
  tensor(
    'float32',
    [1, c, s, s],
    Array.from({ length: c * s * s }, (_, i) => Math.sin(i * 0.37 + seed) * Math.cos(i * 0.011 * seed)),
  );

/** [1, N, S, S] from [1, 3, S, S]: the RGB planes at `rgb` (1-based), `fill(c)` planes elsewhere */
function spread(x: Tensor, n: number, rgb: number[], fill: (c: number) => Float32Array): Tensor {
  const plane = x.dims[2] * x.dims[3];
  const data = new Float32Array(n * plane);
  for (let c = 0; c < n; c++) {
    const k = rgb.indexOf(c + 1);
    data.set(k >= 0 ? (x.data as Float32Array).subarray(k * plane, (k + 1) * plane) : fill(c), c * plane);
  }
  return { dtype: 'float32', dims: [1, n, x.dims[2], x.dims[3]], data };
}

for (const [name, path] of [
  ['ViT-Tiny/16', MODELS.vitTiny],
  ['MobileNetV2', MODELS.mobilenet],
] as const) {
  test(`${name} widened to 13 bands runs on [1, 13, 224, 224]; grey in every band and RGB + zeros give the original's outputs`, async () => {
    const model = loadModel(path);
    const rgbBands: [number, number, number] = [4, 3, 2];
    const { model: wide, widened } = widenInput(model, 13, { rgbBands });
    assert.deepEqual(wide.graph.inputs[0].shape, ['batch', 13, 224, 224]);
    const w0 = model.graph.initializers.get(widened.weight)!;
    const w1 = wide.graph.initializers.get(widened.weight)!;
    assert.deepEqual(w1.dims, [w0.dims[0], 13, w0.dims[2], w0.dims[3]]);
    assert.equal(model.graph.initializers.get(widened.weight), w0, 'the input model is not modified');
    const plane = 224 * 224;
    // grey: the same plane in all 13 bands gives exactly the original's output on (g, g, g)
    const g = image(1, 224, 3).data as Float32Array;
    const grey3 = spread(image(3, 224), 3, [], () => g);
    const grey13 = spread(image(3, 224), 13, [], () => g);
    const orig = await run(model, grey3);
    assert.ok(relErr(await run(wide, grey13), orig) < 1e-4, 'grey');
    // RGB on B04, B03, B02 and zeros elsewhere: the original with its first-layer RGB filters scaled by 3/13
    const x = image(3, 224, 2);
    const scaled = cloneModel(model);
    scaled.graph.initializers.set(widened.weight, {
      ...w0,
      data: Float32Array.from(w0.data as Float32Array, (v) => (v * 3) / 13),
    });
    const widenedOut = await run(
      wide,
      spread(x, 13, rgbBands, () => new Float32Array(plane)),
    );
    assert.ok(relErr(widenedOut, await run(scaled, x)) < 1e-4, 'RGB + zeros');
    assert.ok(relErr(widenedOut, await run(model, x)) > 1e-2, 'and that differs from the unscaled original');
  });
}

test('N = 3 leaves the weight and the outputs unchanged; timm-repeat copies RGB cyclically; the weights follow the rule entry by entry', async () => {
  const model = loadModel(MODELS.tinyCnn);
  const { model: same, widened } = widenInput(model, 3);
  const w = model.graph.initializers.get(widened.weight)!;
  assert.deepEqual(same.graph.initializers.get(widened.weight)!.data, w.data);
  const x = image(3, 32);
  assert.deepEqual(await run(same, x), await run(model, x));
  const [o, , kh, kw] = w.dims;
  const k = kh * kw;
  const at = (t: Tensor, n: number, oc: number, c: number, p: number) => (t.data as Float32Array)[(oc * n + c) * k + p];
  const mean = widenInput(model, 5, { rgbBands: [3, 1, 5] }).model.graph.initializers.get(widened.weight)!;
  const timm = widenInput(model, 5, { rule: 'timm-repeat' }).model.graph.initializers.get(widened.weight)!;
  const f = Math.fround;
  for (let oc = 0; oc < o; oc += 3)
    for (let p = 0; p < k; p++) {
      const rgb = [0, 1, 2].map((c) => at(w, 3, oc, c, p));
      assert.equal(at(mean, 5, oc, 2, p), f(rgb[0] * 0.6)); // band 3 ← R
      assert.equal(at(mean, 5, oc, 0, p), f(rgb[1] * 0.6)); // band 1 ← G
      assert.equal(at(mean, 5, oc, 4, p), f(rgb[2] * 0.6)); // band 5 ← B
      assert.equal(at(mean, 5, oc, 1, p), f(((rgb[0] + rgb[1] + rgb[2]) / 3) * 0.6));
      assert.equal(at(mean, 5, oc, 3, p), at(mean, 5, oc, 1, p));
      for (let c = 0; c < 5; c++) assert.equal(at(timm, 5, oc, c, p), f(rgb[c % 3] * 0.6));
    }
  // timm's own property: RGB repeated twice into 6 channels gives the original output
  const six = widenInput(model, 6, { rule: 'timm-repeat' }).model;
  const plane = 32 * 32;
  const x6 = spread(x, 6, [1, 2, 3], (c) => (x.data as Float32Array).slice((c - 3) * plane, (c - 2) * plane));
  assert.ok(relErr(await run(six, x6), await run(model, x)) < 1e-5);
});

test('per-channel normalisation before the first Conv (Sub/Div constants [1,3,1,1]) is widened with it', async () => {
  const model = loadModel(MODELS.tinyCnn);
  const g = model.graph;
  const input = g.inputs[0].name;
  g.initializers.set('mean', tensor('float32', [1, 3, 1, 1], [0.485, 0.456, 0.406]));
  g.initializers.set('std', tensor('float32', [3, 1, 1], [0.229, 0.224, 0.225]));
  g.nodes.unshift(
    { name: 'norm_sub', op: 'Sub', domain: '', inputs: [input, 'mean'], outputs: ['centred'], attrs: {} },
    { name: 'norm_div', op: 'Div', domain: '', inputs: ['centred', 'std'], outputs: ['normed'], attrs: {} },
  );
  for (const n of g.nodes.slice(2)) n.inputs = n.inputs.map((i) => (i === input ? 'normed' : i));
  const { model: wide, widened } = widenInput(model, 4, { rgbBands: [1, 2, 3] });
  assert.deepEqual(widened.normalisation, ['mean', 'std']);
  assert.deepEqual(wide.graph.initializers.get('mean')!.dims, [1, 4, 1, 1]);
  assert.deepEqual(wide.graph.initializers.get('std')!.dims, [4, 1, 1]);
  const m = wide.graph.initializers.get('mean')!.data as Float32Array;
  assert.ok(Math.abs(m[3] - (0.485 + 0.456 + 0.406) / 3) < 1e-7);
  // RGB + a 4th band at its mean (normalised to 0): the original, normalisation included, with its RGB filters × 3/4
  const x = image(3, 32);
  const plane = 32 * 32;
  const x4 = spread(x, 4, [1, 2, 3], () => new Float32Array(plane).fill(m[3]));
  const scaled = cloneModel(model);
  const w = model.graph.initializers.get(widened.weight)!;
  scaled.graph.initializers.set(widened.weight, {
    ...w,
    data: Float32Array.from(w.data as Float32Array, (v) => (v * 3) / 4),
  });
  assert.ok(relErr(await run(wide, x4), await run(scaled, x)) < 1e-5);
});

test('inputs that do not go straight into a convolution, and bad channel counts, are refused with widen-input', () => {
  const model = loadModel(MODELS.tinyCnn);
  const g = model.graph;
  const input = g.inputs[0].name;
  g.nodes.unshift({ name: 'act', op: 'Relu', domain: '', inputs: [input], outputs: ['act_out'], attrs: {} });
  for (const n of g.nodes.slice(1)) n.inputs = n.inputs.map((i) => (i === input ? 'act_out' : i));
  const refused = (pattern: RegExp) => (e: unknown) =>
    isAttuneError(e) && e.code === 'widen-input' && pattern.test(e.message) && /--bands 4,3,2/.test(e.hint);
  assert.throws(() => widenInput(model, 13), refused(/the image goes into Relu \("act"\) before any convolution/));
  const plain = loadModel(MODELS.tinyCnn);
  assert.throws(() => widenInput(plain, 2), refused(/at least 3 bands/));
  assert.throws(() => widenInput(plain, 13, { rgbBands: [4, 4, 2] }), refused(/not three different bands/));
  assert.throws(() => widenInput(plain, 13, { rgbBands: [14, 3, 2] }), refused(/of 1–13/));
  assert.throws(() => widenInput(widenInput(plain, 13).model, 13), refused(/already widened/));
});

test('a widened backbone: shapes and parameter count redone, the head attaches, metadata names the trainable weight, the export reloads', async () => {
  const bb = await loadBackbone(MODELS.tinyVit);
  const wide = await widenBackbone(bb, 13, { rgbBands: [4, 3, 2] });
  const w = bb.model.graph.initializers.get(wide.widened.weight)!;
  assert.deepEqual(wide.shapes.get(wide.widened.weight)!.dims, [w.dims[0], 13, w.dims[2], w.dims[3]]);
  assert.equal(wide.parameterCount - bb.parameterCount, w.dims[0] * 10 * w.dims[2] * w.dims[3]);
  assert.equal(wide.featureDim, bb.featureDim);
  const prepared = withNewHead(wide, 10, 0);
  assert.deepEqual(widenedInputOf(prepared.model), wide.widened);
  assert.equal(widenedInputOf(bb.model), undefined);
  const s = await createSession(prepared.model);
  const out = await s.run({ pixel_values: tensor('float32', [2, 13, 32, 32]) });
  await s.release();
  assert.deepEqual(out[LOGITS].dims, [2, 10]);
  // an export of it (N-band input) loads again as a backbone
  const file = join(tempDir(), 'wide.onnx');
  await saveModel(prepared.model, file);
  const again = await loadBackbone(file);
  assert.deepEqual(again.shapes.get(wide.widened.weight)!.dims, [w.dims[0], 13, w.dims[2], w.dims[3]]);
  assert.deepEqual(widenedInputOf(again.model), wide.widened);
});

for (const name of ['tinyCnn', 'tinyVit'] as const) {
  test(`${name}: gradients of the widened first-layer weight (and every other parameter) match float64 central differences`, async () => {
    const { model, widened } = widenInput(loadModel(MODELS[name]), 13, { rgbBands: [4, 3, 2] });
    const rep = await gradcheckModel(model, [2, 13, 32, 32], { samples: 4, seed: 5 });
    assert.ok(rep.wrt.includes(widened.weight));
    assert.equal(rep.checked, 4 * rep.wrt.length);
    assert.deepEqual(rep.failures, []);
    assert.deepEqual(rep.vanishing, []);
  });
}
