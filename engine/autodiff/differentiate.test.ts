/** differentiate(): errors users see, opset-dependent emission, and that the checker itself bites. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttuneError } from '../errors';
import type { ShapeMap } from '../ir/fold';
import { emptyGraph, int, ints, type Graph } from '../ir/graph';
import { differentiate } from './differentiate';
import { GRADIENT_RULES } from './rules';
import { gradcheckOp } from './testing/gradcheck';

/** x [2,3] → op → ReduceSum → loss, with static shapes. */
function chain(op: string, extra: Partial<Graph> = {}): { g: Graph; shapes: ShapeMap } {
  const g = emptyGraph('chain');
  g.inputs.push({ name: 'x', dtype: 'float32', shape: [2, 3] });
  g.nodes.push({ name: 'the_node', op, domain: '', inputs: ['x'], outputs: ['y'], attrs: {} });
  g.nodes.push({
    name: 'sum',
    op: 'ReduceSum',
    domain: '',
    inputs: ['y'],
    outputs: ['loss'],
    attrs: { keepdims: int(0) },
  });
  Object.assign(g, extra);
  const shapes: ShapeMap = new Map([
    ['x', { dtype: 'float32', dims: [2, 3] }],
    ['y', { dtype: 'float32', dims: [2, 3] }],
    ['loss', { dtype: 'float32', dims: [] }],
  ]);
  return { g, shapes };
}

test('an op without a gradient rule throws AttuneError no-gradient naming the op and the node', () => {
  const { g, shapes } = chain('Sin');
  assert.throws(
    () => differentiate(g, shapes, 'loss', ['x']),
    (e: unknown) => {
      assert.ok(e instanceof AttuneError);
      assert.equal(e.code, 'no-gradient');
      assert.deepEqual(e.details, { op: 'Sin', node: 'the_node' });
      assert.match(e.message, /Sin/);
      assert.match(e.message, /the_node/);
      assert.ok(e.hint.length > 0);
      return true;
    },
  );
});

test('a custom-domain op is refused even when a standard op of that name has a rule', () => {
  const { g, shapes } = chain('Relu');
  g.nodes[0].domain = 'com.microsoft';
  assert.throws(
    () => differentiate(g, shapes, 'loss', ['x']),
    (e: unknown) => e instanceof AttuneError && e.code === 'no-gradient' && /com\.microsoft\.Relu/.test(e.message),
  );
});

test('non-differentiable ops (Shape, Equal, …) are passed over, not refused', () => {
  const { g, shapes } = chain('Relu');
  g.nodes.splice(1, 0, { name: 'shape', op: 'Shape', domain: '', inputs: ['y'], outputs: ['s'], attrs: {} });
  shapes.set('s', { dtype: 'int64', dims: [2] });
  const grads = differentiate(g, shapes, 'loss', ['x']);
  assert.ok(grads.get('x'));
});

test('ReduceMean axes follow the opset: attribute before 18, input from 18', () => {
  for (const [opset, inputs] of [
    [17, 1],
    [18, 2],
  ] as const) {
    const { g, shapes } = chain('LayerNormalization');
    g.initializers.set('scale', { dtype: 'float32', dims: [3], data: new Float32Array([1, 2, 3]) });
    g.nodes[0].inputs.push('scale');
    shapes.set('scale', { dtype: 'float32', dims: [3] });
    differentiate(g, shapes, 'loss', ['x'], { opset });
    const means = g.nodes.filter((n) => n.op === 'ReduceMean');
    assert.ok(means.length > 0);
    for (const n of means) assert.equal(n.inputs.length, inputs, `opset ${opset}`);
    for (const n of means) assert.equal(!!n.attrs.axes, opset < 18);
  }
});

test('Concat backward uses Split with a split input from opset 13 and the attribute before', async () => {
  for (const opset of [11, 13]) {
    const rep = await gradcheckOp({
      op: 'Concat',
      inputs: [{ dims: [2, 1] }, { dims: [2, 3] }],
      attrs: { axis: int(1) },
      opset,
    });
    assert.deepEqual(rep.failures, [], `opset ${opset}`);
    const split = rep.model.graph.nodes.find((n) => n.op === 'Split')!;
    assert.equal(split.inputs.length, opset >= 13 ? 2 : 1);
  }
});

test('the gradient check catches a wrong rule', async () => {
  const right = GRADIENT_RULES.Sigmoid;
  try {
    GRADIENT_RULES.Sigmoid = GRADIENT_RULES.Tanh;
    const rep = await gradcheckOp({ op: 'Sigmoid', inputs: [{ dims: [2, 3] }] });
    assert.equal(rep.failures.length, 6);
    // and a 0.1% error in a weight gradient of a strided grouped Conv
    const conv = GRADIENT_RULES.Conv;
    GRADIENT_RULES.Conv = (ctx) => conv(ctx).map((d, i) => (d && i === 1 ? ctx.b.mul(d, ctx.b.scalar(1.001)) : d));
    const rep2 = await gradcheckOp({
      op: 'Conv',
      inputs: [{ dims: [2, 4, 5, 5] }, { dims: [4, 2, 3, 3] }],
      attrs: { group: int(2), strides: ints([2, 2]) },
    });
    GRADIENT_RULES.Conv = conv;
    assert.ok(rep2.failures.length > 0 && rep2.failures.every((f) => f.includes('in1')));
  } finally {
    GRADIENT_RULES.Sigmoid = right;
  }
});

test('a wrt tensor the loss does not depend on gets an explicit zero gradient', () => {
  const { g, shapes } = chain('Relu');
  g.inputs.push({ name: 'unused', dtype: 'float32', shape: [4] });
  shapes.set('unused', { dtype: 'float32', dims: [4] });
  const grads = differentiate(g, shapes, 'loss', ['x', 'unused']);
  const zero = g.initializers.get(grads.get('unused')!)!;
  assert.deepEqual(zero.dims, [4]);
  assert.ok(Array.from(zero.data as Float32Array).every((v) => v === 0));
});
