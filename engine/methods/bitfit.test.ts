/**
 * BitFit's defining property on a network whose convolutions carry no bias of their own (MobileNetV2: every Conv is
 * followed by a BatchNormalization): the BatchNorm shifts are those convolutions' biases, so they train, and every
 * other backbone tensor (weights, BatchNorm scales and statistics) leaves training bit for bit as it came.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBackbone, withNewHead } from '../backbone/load';
import { HEAD_BIAS, HEAD_WEIGHT } from '../backbone/prepare';
import { exportRun } from '../export/export';
import { producers } from '../ir/graph';
import type { Tensor } from '../ir/tensor';
import { loadModel } from '../onnx/io';
import { MODELS } from '../testing/fixtures';
import { trainRun } from '../train/trainer';
import { bitfit } from './bitfit';
import { biasTensors } from './layers';

test('BitFit on MobileNetV2 trains the BatchNorm shift of each bias-less Conv, and nothing else of the backbone', async () => {
  const p = withNewHead(await loadBackbone(MODELS.mobilenet), 2, 0);
  const g = p.model.graph;
  const prod = producers(g);
  const biases = biasTensors(g);
  const bns = g.nodes.filter((n) => n.op === 'BatchNormalization');
  assert.equal(biases.length, bns.length, 'one shift per BatchNorm (MobileNetV2: 53)');
  for (const bn of bns) {
    assert.ok(biases.includes(bn.inputs[2]), `${bn.name}'s shift`);
    assert.equal(prod.get(bn.inputs[0])?.op, 'Conv');
    assert.equal(prod.get(bn.inputs[0])?.inputs[2], undefined, 'after a Conv without a bias');
  }
  const channels = bns.reduce((n, bn) => n + g.initializers.get(bn.inputs[2])!.dims[0], 0);
  assert.equal(bitfit.trainableParameters(g, {}), channels + 1280 * 2 + 2);

  // one epoch on a few real images; the export holds what training left
  const dir = mkdtempSync(join(tmpdir(), 'attune-bitfit-'));
  const src = '../shared/datasets/aid-satellite-subset';
  for (const c of readdirSync(src).sort().slice(0, 2)) {
    mkdirSync(join(dir, 'data', c), { recursive: true });
    for (const f of readdirSync(join(src, c)).sort().slice(0, 6))
      copyFileSync(join(src, c, f), join(dir, 'data', c, f));
  }
  const r = await trainRun({
    data: join(dir, 'data'),
    model: MODELS.mobilenet,
    method: 'bitfit',
    epochs: 1,
    batch: 4,
    lr: 0.05,
    seed: 1,
    outDir: join(dir, 'run'),
  });
  assert.equal(r.status, 'done');
  const exported = loadModel((await exportRun(r.runDir, join(dir, 'export'))).modelPath).graph.initializers;
  const bits = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  let moved = 0;
  for (const [name, before] of g.initializers) {
    if (name === HEAD_WEIGHT || name === HEAD_BIAS || before.dtype !== 'float32') continue;
    const after = exported.get(name);
    assert.ok(after, `${name} is in the export`);
    const same = bits(before).equals(bits(after));
    if (biases.includes(name)) moved += same ? 0 : 1;
    else assert.ok(same, `${name} is not a bias but changed`);
  }
  assert.ok(moved >= biases.length - 2, `${moved} of ${biases.length} shifts trained`);
});
