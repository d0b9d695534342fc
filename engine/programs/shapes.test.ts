/**
 * Compiling a program derives the shapes of what a method's transform adds (and keeps the shapes of what it only
 * rewires) instead of running the whole forward: every method's compiled program must be byte for byte the one
 * built from shapes measured by onnxruntime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackbone, withNewHead } from '../backbone/load';
import { encodeModel } from '../onnx/io';
import type { MethodContext, MethodOptions } from '../methods/method';
import { getMethod, METHODS } from '../methods/registry';
import { MODELS } from '../testing/fixtures';
import { compileTrainProgram } from './compile';

const batches = (): MethodContext['trainBatches'] =>
  async function* () {
    const x = new Float32Array(4 * 3 * 32 * 32).map((_, i) => Math.sin(i));
    yield { x, labels: Int32Array.from([0, 0, 1, 1]), count: 4 };
  };

const cases: [string, string, MethodOptions][] = [
  ...METHODS.map((m): [string, string, MethodOptions] => [m.name, m.name, {}]),
  ['pace (its base adapter)', 'pace', { sigma: 0, lambda: 0 }],
  ['pace-fast', 'pace', { fast: true }],
];

for (const [label, name, options] of cases)
  test(`${label}: the program compiled from derived shapes equals the one from measured shapes`, async () => {
    const method = getMethod(name);
    const p = withNewHead(await loadBackbone(MODELS.tinyVit), 3, 0);
    const mp = await method.prepare({ backbone: p, options, seed: 0, batch: 2, trainBatches: batches() });
    const compile = (measureAllShapes: boolean) =>
      compileTrainProgram(p.model, mp.program, {
        batch: 2,
        numClasses: 3,
        clipNorm: method.defaults.clipNorm,
        update: mp.update,
        measureAllShapes,
      });
    const derived = encodeModel((await compile(false)).model);
    const measured = encodeModel((await compile(true)).model);
    assert.ok(Buffer.compare(Buffer.from(derived), Buffer.from(measured)) === 0, 'same program');
  });
