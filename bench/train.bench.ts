/**
 * npm run bench:train [-- --json] [--batch 32] [--steps 5] [--profile]
 * Images/s of a ViT-Tiny training step at 224 (full fine-tuning; linear probe through the backbone; linear probe
 * on cached features), achieved GFLOP/s as a fraction of a MatMul peak measured on this machine, peak memory,
 * and with --profile the share of step time per op type (onnxruntime's profiler).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { loadBackbone, withNewHead } from '../engine/backbone/load';
import { tensor, type Tensor } from '../engine/ir/tensor';
import { encodeModel } from '../engine/onnx/io';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LR, TARGETS, type TrainProgram } from '../engine/programs/compile';
import { buildTargets } from '../engine/programs/loss';
import { full } from '../engine/methods/full';
import { linear } from '../engine/methods/linear';
import { headModel } from '../engine/train/head-model';
import { TrainingState } from '../engine/train/state';
import { toOrt } from '../engine/runtime/session';
import type { Method } from '../engine/methods/method';

const args = process.argv.slice(2);
const json = args.includes('--json');
const flag = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const B = flag('--batch', 32);
const STEPS = flag('--steps', 5);
const PROFILE = args.includes('--profile');
const MODEL = '../shared/models/vit-tiny-patch16-224.onnx';
const C = 10;
const log = (...a: unknown[]) => !json && console.log(...a);

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
const shapeOf = (l: Record<string, number[]>[] | undefined, i: number): number[] => Object.values(l?.[i] ?? {})[0] ?? [];

/** FLOPs of one kernel from the shapes onnxruntime's profiler recorded: 2·M·N·K for MatMul/Gemm/Conv/ConvTranspose. */
function kernelFlops(e: ProfileEvent): number {
  const op = e.args?.op_name;
  const ins = e.args?.input_type_shape;
  const out = shapeOf(e.args?.output_type_shape, 0);
  if (op === 'MatMul' || op === 'FusedMatMul') {
    const a = shapeOf(ins, 0);
    return 2 * prod(out) * a[a.length - 1];
  }
  if (op === 'Gemm' || op === 'FusedGemm') {
    // A is [M, K] (or [K, M] when transposed); the output is [M, N]
    const a = shapeOf(ins, 0);
    const k = a[0] === out[0] ? a[1] : a[0];
    return 2 * prod(out) * k;
  }
  if (op === 'Conv' || op === 'FusedConv') return 2 * prod(out) * prod(shapeOf(ins, 1).slice(1));
  if (op === 'ConvTranspose') return 2 * prod(shapeOf(ins, 0)) * prod(shapeOf(ins, 1).slice(1));
  return 0;
}

/** GFLOP/s of a square float32 MatMul in onnxruntime with all cores: the peak we compare against. */
async function matmulPeak(): Promise<number> {
  const N = 1024;
  const m = encodeModel({
    graph: {
      name: 'peak',
      nodes: [{ name: 'mm', op: 'MatMul', domain: '', inputs: ['a', 'b'], outputs: ['y'], attrs: {} }],
      initializers: new Map(),
      inputs: [{ name: 'a', dtype: 'float32', shape: [N, N] }, { name: 'b', dtype: 'float32', shape: [N, N] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [N, N] }],
    },
    opset: 17, extraOpsets: [], irVersion: 8, producer: 'bench', metadata: {},
  });
  const s = await ort.InferenceSession.create(m);
  const a = new ort.Tensor('float32', Float32Array.from({ length: N * N }, (_, i) => Math.sin(i)), [N, N]);
  await s.run({ a, b: a });
  let best = Infinity;
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    await s.run({ a, b: a });
    best = Math.min(best, performance.now() - t);
  }
  return (2 * N ** 3) / (best / 1000) / 1e9;
}

interface Case {
  method: string;
  program: TrainProgram;
  rowDims: number[];
}

async function runCase(c: Case, peak: number): Promise<Record<string, number | string>> {
  const p = c.program;
  const bytes = encodeModel(p.model);
  const profilePrefix = `/tmp/attune-bench-${c.method}`;
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const state = TrainingState.fresh(p);
  const x = tensor('float32', [B, ...c.rowDims]);
  for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] = Math.sin(i * 0.001);
  const labels = Array.from({ length: B }, (_, i) => i % C);
  const { targets, invWeight } = buildTargets(labels, labels.map(() => 1), C, 0.1);
  const feeds = (step: number): Record<string, ort.Tensor> => {
    const f: Record<string, Tensor> = {
      [p.imageInput]: x,
      [TARGETS]: tensor('float32', [B, C], targets),
      [INV_WEIGHT]: tensor('float32', [], [invWeight]),
      [LR]: tensor('float32', [], [1e-5]),
      [BC1]: tensor('float32', [], [1 - 0.9 ** step]),
      [BC2]: tensor('float32', [], [1 - 0.999 ** step]),
    };
    state.feeds(f);
    const o: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(f)) o[k] = toOrt(v);
    return o;
  };
  const run = async (step: number) => {
    const out = await session.run(feeds(step));
    const st: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(out)) st[k] = { dtype: v.type as Tensor['dtype'], dims: [...v.dims], data: v.data as Float32Array };
    state.update(st);
  };
  await run(1); // warm-up: allocations, kernel selection
  const times: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    await run(s + 2);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  await session.release();
  // one profiled step: FLOPs from the recorded kernel shapes, and where the time goes
  const profiled = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: profilePrefix, logSeverityLevel: 3 });
  await profiled.run(feeds(2));
  (profiled as unknown as { endProfiling(): void }).endProfiling();
  await profiled.release();
  // the binding does not return the file name: it is <prefix>_<timestamp>.json
  const dir = dirname(profilePrefix);
  const file = readdirSync(dir).filter((f) => f.startsWith(basename(profilePrefix) + '_') && f.endsWith('.json')).map((f) => join(dir, f)).sort().pop() ?? '';
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  rmSync(file, { force: true });
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name);
  const flops = kernels.reduce((a, e) => a + kernelFlops(e), 0);
  const gflops = flops / (median / 1000) / 1e9;
  const result = {
    model: 'vit-tiny-patch16-224',
    method: c.method,
    batch: B,
    imagesPerSecond: (B * 1000) / median,
    gflops,
    peakFraction: gflops / peak,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    stepMs: median,
    gflopPerStep: flops / 1e9,
  };
  if (PROFILE) {
    const byOp = new Map<string, number>();
    let total = 0;
    for (const e of kernels) {
      byOp.set(e.args!.op_name!, (byOp.get(e.args!.op_name!) ?? 0) + e.dur);
      total += e.dur;
    }
    log(`  where the time goes (${c.method}, share of kernel time in one step):`);
    for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) log(`    ${op.padEnd(22)} ${((100 * us) / total).toFixed(1)} %`);
  }
  return result;

}

async function compileFor(method: Method, headOnly: boolean): Promise<Case> {
  const bb = await loadBackbone(MODEL);
  const prepared = withNewHead(bb, C, 0);
  const mp = await method.prepare({ backbone: prepared, options: {}, seed: 0, batch: B });
  const model = headOnly ? headModel(prepared) : prepared.model;
  const t = performance.now();
  const program = await compileTrainProgram(model, mp.program, { batch: B, numClasses: C, clipNorm: 1 });
  log(`compiled ${method.name}${headOnly ? ' (cached features)' : ''} in ${((performance.now() - t) / 1000).toFixed(1)} s: ${program.model.graph.nodes.length} nodes`);
  return { method: headOnly ? 'linear-cached-features' : method.name, program, rowDims: headOnly ? [prepared.featureDim] : [3, 224, 224] };
}

const peak = await matmulPeak();
log(`machine: ${cpus().length} cores (${cpus()[0]?.model}); onnxruntime MatMul peak ${peak.toFixed(1)} GFLOP/s (1024³ float32)`);
if (json) console.log(JSON.stringify({ type: 'peak', matmulGflops: peak, cores: cpus().length }));
for (const [method, headOnly] of [[full, false], [linear, false], [linear, true]] as const) {
  const c = await compileFor(method, headOnly);
  const r = await runCase(c, peak);
  if (json) console.log(JSON.stringify(r));
  else log(`${String(r.method).padEnd(24)} batch ${B}: ${Number(r.imagesPerSecond).toFixed(1)} img/s, ${Number(r.gflops).toFixed(1)} GFLOP/s (${(Number(r.peakFraction) * 100).toFixed(0)} % of peak), ${Number(r.gflopPerStep).toFixed(1)} GFLOP/step, peak RSS ${Number(r.peakRssMB).toFixed(0)} MB`);
}
