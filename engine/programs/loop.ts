/**
 * K training steps per session.run: the train-step graph becomes the body of an ONNX Loop whose
 * carried values are the trainable tensors and optimizer state. Per-step data (images, targets, lr,
 * bias corrections, method inputs) arrive stacked [K, …] and the body gathers row `iter`.
 * On a GPU this keeps the state on the device between steps (onnxruntime-node copies every
 * session output back to the host); frozen weights stay outer-scope initializers, uploaded once.
 */
import { int, type Graph, type Node, type ValueInfo } from '../ir/graph';
import { tensor, type Tensor } from '../ir/tensor';
import type { TrainProgram } from './compile';
import { LOGITS } from '../backbone/prepare';

export interface LoopProgram {
  step: TrainProgram;
  /** steps per run */
  k: number;
  model: TrainProgram['model'];
  /** per-step input name → its stacked outer name */
  stacked: Map<string, string>;
  /** per-step scalar (or logits) output name → its stacked [K, …] outer name */
  scans: Map<string, string>;
}

const STACKED = (n: string) => `${n}::steps`;
const SCAN = (n: string) => `${n}::all`;
const BODY = (n: string) => `${n}::body`;

/** Inputs that change every step (everything but the carried state). */
export function perStepInputs(step: TrainProgram): ValueInfo[] {
  const state = new Set(step.state.flatMap((s) => [s.param, s.m, s.v]));
  return step.model.graph.inputs.filter((i) => !state.has(i.name));
}

export function compileLoopProgram(step: TrainProgram, k: number): LoopProgram {
  const g = step.model.graph;
  const perStep = perStepInputs(step);
  const stacked = new Map(perStep.map((i) => [i.name, STACKED(i.name)]));
  const scanNames = [...step.scalars, LOGITS];
  const scans = new Map(scanNames.map((n) => [n, SCAN(n)]));
  const carried = step.state.flatMap((s) => [
    { input: s.param, output: s.paramOut },
    { input: s.m, output: s.mOut },
    { input: s.v, output: s.vOut },
  ]);
  const info = new Map(g.inputs.map((i) => [i.name, i]));
  const outInfo = new Map(g.outputs.map((o) => [o.name, o]));

  // body: gather this step's row of every stacked input under the step graph's own input names
  const iter = 'attune_loop_iter';
  const condIn = 'attune_loop_cond_in';
  const gathers: Node[] = perStep.map((i) => ({
    name: `${i.name}::gather`,
    op: 'Gather',
    domain: '',
    inputs: [stacked.get(i.name)!, iter],
    outputs: [i.name],
    attrs: { axis: int(0) },
  }));
  const bodyOut = [...carried.map((c) => c.output), ...scanNames];
  const renames: Node[] = bodyOut.map((n) => ({
    name: `${n}::body_id`,
    op: 'Identity',
    domain: '',
    inputs: [n],
    outputs: [BODY(n)],
    attrs: {},
  }));
  const body: Graph = {
    name: 'attune_step',
    nodes: [
      ...gathers,
      ...g.nodes,
      {
        name: 'attune_loop_cond',
        op: 'Identity',
        domain: '',
        inputs: [condIn],
        outputs: ['attune_loop_cond_out'],
        attrs: {},
      },
      ...renames,
    ],
    initializers: new Map(),
    inputs: [
      { name: iter, dtype: 'int64', shape: [] },
      { name: condIn, dtype: 'bool', shape: [] },
      ...carried.map((c) => info.get(c.input)!),
    ],
    outputs: [
      { name: 'attune_loop_cond_out', dtype: 'bool', shape: [] },
      ...bodyOut.map((n) => ({ ...(outInfo.get(n) ?? { dtype: 'float32' as const, shape: [] }), name: BODY(n) })),
    ],
  };
  const trip = 'attune_loop_trip';
  const initializers = new Map<string, Tensor>(g.initializers);
  initializers.set(trip, tensor('int64', [], [k]));
  const loop: Node = {
    name: 'attune_loop',
    op: 'Loop',
    domain: '',
    inputs: [trip, '', ...carried.map((c) => c.input)],
    outputs: [...carried.map((c) => c.output), ...scanNames.map((n) => scans.get(n)!)],
    attrs: { body: { kind: 'graph', value: body } },
  };
  const outer: Graph = {
    name: 'attune_train_loop',
    nodes: [loop],
    initializers,
    inputs: [
      ...perStep.map((i) => ({ name: stacked.get(i.name)!, dtype: i.dtype, shape: [k, ...i.shape] })),
      ...carried.map((c) => info.get(c.input)!),
    ],
    outputs: [
      ...carried.map((c) => outInfo.get(c.output)!),
      ...scanNames.map((n) => {
        const o = outInfo.get(n) ?? { name: n, dtype: 'float32' as const, shape: [] };
        return { name: scans.get(n)!, dtype: o.dtype, shape: [k, ...o.shape] };
      }),
    ],
  };
  return { step, k, model: { ...step.model, graph: outer }, stacked, scans };
}

/** Stacks K per-step feeds into the loop's [K, …] inputs. */
export function stackFeeds(lp: LoopProgram, steps: Record<string, Tensor>[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, outer] of lp.stacked) {
    const parts = steps.map((s) => s[name]);
    const n = parts[0].data.length;
    const data = new (parts[0].data.constructor as Float32ArrayConstructor)(n * parts.length);
    parts.forEach((p, i) => data.set(p.data as Float32Array, i * n));
    out[outer] = { dtype: parts[0].dtype, dims: [parts.length, ...parts[0].dims], data };
  }
  return out;
}

/** Row `i` of a stacked scan output, as the single-step program would have returned it. */
export function scanRow(t: Tensor, i: number): Tensor {
  const per = t.data.length / t.dims[0];
  return { dtype: t.dtype, dims: t.dims.slice(1), data: t.data.slice(i * per, (i + 1) * per) };
}
