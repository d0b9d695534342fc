/**
 * torch's exported exact GELU, (x·(erf(x/√2) + 1))·0.5, is differentiated as one op (differentiate.ts geluChains):
 * checked against central differences in float64, and checked to leave the forward's intermediates unread by the
 * backward (so onnxruntime can fuse the forward into one Gelu kernel). A chain whose intermediate is read elsewhere
 * falls back to the per-op rules and is checked the same way. Also the Concat that sums the padded gradients of slices
 * tiling one axis (differentiate.ts tiled).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../util/random';
import { Builder } from '../ir/builder';
import { emptyGraph, type Model } from '../ir/graph';
import { scalar, sizeOf, tensor } from '../ir/tensor';
import { addProjectionLoss, checkGradients } from './testing/gradcheck';

const DIMS = [2, 3, 5];

/** x → Linear-like scale → torch's GELU spelling; with `leak`, the Erf output is also an output of the graph. */
function geluModel(leak: boolean): { m: Model; intermediates: string[] } {
  const g = emptyGraph('gelu');
  g.inputs.push({ name: 'x', dtype: 'float64', shape: DIMS });
  const b = new Builder(g, 'gelu', 'float64', 17);
  const c = (v: number) => b.constant(scalar('float64', v), 'c');
  const d = b.div('x', c(Math.SQRT2));
  const e = b.op('Erf', [d]);
  const a = b.add(e, c(1));
  const m = b.mul('x', a);
  const y = b.mul(m, c(0.5));
  g.outputs.push({ name: y, dtype: 'float64', shape: DIMS });
  if (leak) g.outputs.push({ name: e, dtype: 'float64', shape: DIMS });
  return {
    m: { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} },
    intermediates: [d, e, a, m],
  };
}

for (const leak of [false, true])
  test(`GELU chain${leak ? ' with an intermediate read elsewhere (per-op rules)' : ' as one op'}: ∂x matches central differences (float64)`, async () => {
    const { m, intermediates } = geluModel(leak);
    const loss = await addProjectionLoss(
      m,
      m.graph.outputs.map((o) => o.name),
      mulberry32(3),
    );
    const r = mulberry32(9);
    const x = tensor(
      'float64',
      DIMS,
      Array.from({ length: sizeOf(DIMS) }, () => -3 + 6 * r()),
    );
    const rep = await checkGradients(m, loss, ['x'], { x });
    assert.equal(rep.checked, sizeOf(DIMS));
    assert.deepEqual(rep.failures, []);
    const forward = new Set(m.graph.nodes);
    const backwardReads = rep.model.graph.nodes
      .filter((n) => !forward.has(n) && !m.graph.nodes.some((f) => f.name === n.name))
      .flatMap((n) => n.inputs);
    const readIntermediates = intermediates.filter((t) => backwardReads.includes(t));
    if (leak) assert.ok(readIntermediates.length > 0, 'the per-op rules read the chain');
    else assert.deepEqual(readIntermediates, [], 'the backward reads only x');
  });

test('slices tiling one axis: their padded gradients are summed as one Concat, and ∂x matches central differences', async () => {
  const g = emptyGraph('qkv');
  g.inputs.push({ name: 'x', dtype: 'float64', shape: [2, 6] });
  const b = new Builder(g, 'qkv', 'float64', 17);
  const part = (s: number, e: number) => b.op('Slice', ['x', b.ints([s]), b.ints([e]), b.ints([1])]);
  const [q, k, v] = [part(0, 2), part(2, 4), part(4, 6)];
  const y = b.add(b.mul(q, k), b.op('Exp', [v]));
  g.outputs.push({ name: y, dtype: 'float64', shape: [2, 2] });
  const m: Model = { graph: g, opset: 17, extraOpsets: [], irVersion: 8, producer: 'test', metadata: {} };
  const loss = await addProjectionLoss(m, [y], mulberry32(4));
  const r = mulberry32(2);
  const rep = await checkGradients(m, loss, ['x'], {
    x: tensor(
      'float64',
      [2, 6],
      Array.from({ length: 12 }, () => r() - 0.5),
    ),
  });
  assert.equal(rep.checked, 12);
  assert.deepEqual(rep.failures, []);
  assert.ok(
    rep.model.graph.nodes.some((n) => n.op === 'Concat' && n.name.endsWith('/tiled/concat')),
    'the pieces are concatenated',
  );
});
