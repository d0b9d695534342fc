/**
 * npx tsx bench/gps-forms.micro.ts [reps] — one linear layer's training step (forward, ∂x, ∂δ) at ViT-Tiny sizes
 * in GPS's two forms: the dense masked weight (W0 + scatter(δ), dense ∂W then its K entries) and the gather form
 * (x·W0 + δ ⊙ x[…, idx], no dense ∂W). Prints ms per step for each, interleaved, to pick the form per layer shape.
 */
import * as ort from 'onnxruntime-node';
import { differentiate } from '../engine/autodiff/differentiate';
import { Builder } from '../engine/ir/builder';
import { probe } from '../engine/ir/fold';
import { int, type Graph, type Model } from '../engine/ir/graph';
import { tensor } from '../engine/ir/tensor';
import { encodeModel } from '../engine/onnx/io';
import { toOrt } from '../engine/runtime/session';

const T = 32 * 197;
const REPS = Number(process.argv[2] ?? 5);

async function build(form: 'dense' | 'gather', inF: number, out: number): Promise<Model> {
  const g: Graph = {
    name: 'layer',
    nodes: [],
    initializers: new Map(),
    inputs: [
      { name: 'x', dtype: 'float32', shape: [T, inF] },
      { name: 'r', dtype: 'float32', shape: [T, out] },
      { name: 'delta', dtype: 'float32', shape: [out, 1] },
    ],
    outputs: [],
  };
  const b = new Builder(g, 'f');
  const w0 = b.constant(
    tensor(
      'float32',
      [inF, out],
      Float32Array.from({ length: inF * out }, (_, i) => Math.sin(i)),
    ),
    'w0',
  );
  const idx = Array.from({ length: out }, (_, r) => (r * 7) % inF);
  let y: string;
  if (form === 'dense') {
    const onehot = new Float32Array(inF * out);
    idx.forEach((c, r) => (onehot[c * out + r] = 1));
    const w = b.add(w0, b.mul(b.reshape('delta', [1, out]), b.constant(tensor('float32', [inF, out], onehot))));
    y = b.matmul('x', w);
  } else {
    const cols = b.op('Gather', ['x', b.constant(tensor('int64', [out], idx))], { axis: int(-1) });
    y = b.add(b.matmul('x', w0), b.mul(cols, b.reshape('delta', [out])));
  }
  const loss = b.op('ReduceSum', [b.mul(y, 'r')], { keepdims: int(0) });
  const m: Model = { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'micro', metadata: {} };
  const feeds = { x: tensor('float32', [T, inF]), r: tensor('float32', [T, out]), delta: tensor('float32', [out, 1]) };
  const { shapes } = await probe(g, 17, feeds, () => false);
  for (const [k, t] of g.initializers) shapes.set(k, { dtype: t.dtype, dims: t.dims });
  for (const i of g.inputs) shapes.set(i.name, { dtype: i.dtype, dims: i.shape as number[] });
  const grads = differentiate(g, shapes, loss, ['x', 'delta']);
  g.outputs = [...grads.values()].map((n) => ({ name: n, dtype: 'float32' as const, shape: [] }));
  return m;
}

for (const [inF, out] of [
  [192, 576],
  [192, 192],
  [192, 768],
  [768, 192],
]) {
  const sessions = {
    dense: await ort.InferenceSession.create(encodeModel(await build('dense', inF, out)), { logSeverityLevel: 3 }),
    gather: await ort.InferenceSession.create(encodeModel(await build('gather', inF, out)), { logSeverityLevel: 3 }),
  };
  const feeds = {
    x: toOrt(
      tensor(
        'float32',
        [T, inF],
        Float32Array.from({ length: T * inF }, (_, i) => Math.cos(i)),
      ),
    ),
    r: toOrt(tensor('float32', [T, out], new Float32Array(T * out).fill(1))),
    delta: toOrt(tensor('float32', [out, 1])),
  };
  const times: Record<string, number[]> = { dense: [], gather: [] };
  for (let i = 0; i <= REPS; i++)
    for (const k of ['dense', 'gather'] as const) {
      const t = performance.now();
      await sessions[k].run(feeds);
      if (i > 0) times[k].push(performance.now() - t);
    }
  const med = (a: number[]) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)];
  console.log(
    `in ${inF} out ${out}: dense ${med(times.dense).toFixed(1)} ms, gather ${med(times.gather).toFixed(1)} ms`,
  );
}
