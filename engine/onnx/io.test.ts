import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, encodeModel, loadModel, saveModel } from './io';
import { createSession } from '../runtime/session';
import { tensor } from '../ir/tensor';
import { MODELS, tempDir } from '../testing/fixtures';
import * as ort from 'onnxruntime-node';

const input = (S: number) => {
  const x = tensor('float32', [2, 3, S, S]);
  for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] = Math.sin(i * 0.01);
  return x;
};

test('every shared model round-trips through the IR with identical weights and outputs', async () => {
  for (const path of Object.values(MODELS)) {
    const m = loadModel(path);
    const again = decodeModel(encodeModel(m));
    assert.equal(again.graph.nodes.length, m.graph.nodes.length);
    assert.deepEqual([...again.graph.initializers.keys()], [...m.graph.initializers.keys()]);
    for (const [k, t] of m.graph.initializers) assert.deepEqual(again.graph.initializers.get(k)!.data, t.data, k);
    const S = m.graph.inputs[0].shape[2] as number;
    const feeds = { [m.graph.inputs[0].name]: input(S) };
    const a = await (await createSession(readFileSync(path))).run(feeds);
    const b = await (await createSession(again)).run(feeds);
    const out = m.graph.outputs[0].name;
    assert.deepEqual(b[out].data, a[out].data, path);
  }
});

test('external data files are written and read back', async () => {
  const m = loadModel(MODELS.tinyVit);
  const dir = tempDir();
  const path = join(dir, 'model.onnx');
  await saveModel(m, path, { externalData: true, externalThreshold: 256 });
  const onDisk = readFileSync(path).length;
  const inline = encodeModel(m).length;
  assert.ok(onDisk < inline / 2, `weights moved out of the protobuf (${onDisk} of ${inline} bytes left)`);
  assert.ok(readFileSync(path + '.data').length > inline / 2);
  const back = loadModel(path);
  for (const [k, t] of m.graph.initializers) assert.deepEqual(back.graph.initializers.get(k)!.data, t.data, k);
  // onnxruntime itself resolves the external file next to the model and computes the same logits
  const s = await ort.InferenceSession.create(path);
  const x = input(32);
  const out = await s.run({ pixel_values: new ort.Tensor('float32', x.data as Float32Array, x.dims) });
  const ref = await (await createSession(m)).run({ pixel_values: x });
  assert.deepEqual(out.logits.data, ref.logits.data);
});

test('a file that is not ONNX gets a readable message', () => {
  assert.throws(
    () => decodeModel(Buffer.from('this is not a model')),
    (e: Error & { hint?: string }) => /not a readable ONNX model/.test(e.message) && !!e.hint,
  );
});
