/**
 * Test helper: one step of an update rule (SPD, L2-SP, AdamW) on a single tensor, emitted as ONNX and run in
 * onnxruntime, with SPD's two shares read back.
 */
import { Builder } from '../../ir/builder';
import { emptyGraph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { ADAM_DEFAULTS, type UpdateRule } from '../../programs/optimizer';
import { createSession } from '../../runtime/session';
import { SPD_CONDITION, SPD_PROJECTED } from '../spd';

/** Runs one update of `rule` on θ with gradient g, fresh moments at t = 1 and learning rate 0.01, anchor θ0. */
export async function oneUpdate(
  rule: UpdateRule,
  theta: number[],
  g: number[],
  theta0: number[],
  isHead = false,
  weightDecay = 0,
): Promise<{ param: Float32Array; fired?: number; moved?: number }> {
  const graph = emptyGraph('spd');
  const b = new Builder(graph, 'u');
  for (const n of ['p', 'g', 'm', 'v']) graph.inputs.push({ name: n, dtype: 'float32', shape: [theta.length] });
  for (const n of ['lr', 'bc1', 'bc2']) graph.inputs.push({ name: n, dtype: 'float32', shape: [] });
  const out = rule({
    b,
    param: 'p',
    grad: 'g',
    m: 'm',
    v: 'v',
    scalars: { lr: 'lr', bc1: 'bc1', bc2: 'bc2' },
    hyper: ADAM_DEFAULTS,
    weightDecay,
    anchor: tensor('float32', [theta.length], theta0),
    isHead,
  });
  graph.nodes.push({ name: 'o', op: 'Identity', domain: '', inputs: [out.param], outputs: ['param_out'], attrs: {} });
  graph.outputs.push({ name: 'param_out', dtype: 'float32', shape: [theta.length] });
  // fired: SPD's condition held; moved: the projection changed the tensor (r > 0)
  const diag = out.shares?.[SPD_CONDITION];
  const moved = out.shares?.[SPD_PROJECTED];
  if (diag && moved) {
    graph.nodes.push({ name: 'd', op: 'Identity', domain: '', inputs: [diag], outputs: ['fired'], attrs: {} });
    graph.nodes.push({ name: 'mv', op: 'Identity', domain: '', inputs: [moved], outputs: ['moved'], attrs: {} });
    graph.outputs.push({ name: 'fired', dtype: 'float32', shape: [] }, { name: 'moved', dtype: 'float32', shape: [] });
  }
  const model: Model = { graph, opset: 17, extraOpsets: [], irVersion: 8, producer: 't', metadata: {} };
  const s = await createSession(model, { provider: 'cpu' });
  const f = (v: number[] | number, dims: number[]): Tensor => tensor('float32', dims, Array.isArray(v) ? v : [v]);
  const r = await s.run({
    p: f(theta, [theta.length]),
    g: f(g, [theta.length]),
    m: f(new Array(theta.length).fill(0), [theta.length]),
    v: f(new Array(theta.length).fill(0), [theta.length]),
    lr: f(0.01, []),
    bc1: f(1 - ADAM_DEFAULTS.beta1, []),
    bc2: f(1 - ADAM_DEFAULTS.beta2, []),
  });
  await s.release();
  return {
    param: r.param_out.data as Float32Array,
    fired: diag ? (r.fired.data as Float32Array)[0] : undefined,
    moved: moved ? (r.moved.data as Float32Array)[0] : undefined,
  };
}
