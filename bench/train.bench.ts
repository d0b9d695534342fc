/**
 * npm run bench:train [-- --json] [--batch 32] [--steps 5] [--rounds 1] [--paired] [--profile] [--methods a,b]
 *   [--model file.onnx] [--out file.md]   (--help says what each does)
 * Images/s of a ViT-Tiny training step at 224 for every method (each in a fresh process, so its peak memory is its
 * own), as a ratio to full fine-tuning of the same run; achieved GFLOP/s as a fraction of a MatMul peak measured on
 * this machine; peak RSS; with --profile the share of kernel time per op type (onnxruntime's profiler).
 * Cases: the registry's methods, `pace-base` (PACE's adapter alone: σ = 0, λ = 0), `pace-fast`, `gps-select` (GPS's
 * selection pass: SupCon forward and backward over two views of every image), `linear-cached-features`.
 * --model measures another backbone the same way (bench/reference/export_vit.py makes a ViT-Small or ViT-Base).
 * Writes bench/results/train.md (unless --out -), with the command and the machine's load average; a section
 * "## Notes" at its end is kept.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { cpus, loadavg, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { loadBackbone, withNewHead } from '../engine/backbone/load';
import { tensor, type Tensor } from '../engine/ir/tensor';
import { encodeModel } from '../engine/onnx/io';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LR, TARGETS, type TrainProgram } from '../engine/programs/compile';
import { buildTargets } from '../engine/programs/loss';
import { getMethod } from '../engine/methods/registry';
import { BLOCK_ADAPTER_CASES, hasTransformerBlocks } from './block-adapters';
import { compileSelectionProgram, SelectionRunner, standInSelection } from '../engine/methods/gps/select';
import type { MethodOptions } from '../engine/methods/method';
import { headModel } from '../engine/train/head-model';
import { TrainingState } from '../engine/train/state';
import { ortOptions, toOrt, type Session } from '../engine/runtime/session';
import { readFlags } from './args';

const flags = readFlags(
  'npm run bench:train [-- flags]: images/s and peak memory of one training step per method, against full fine-tuning',
  {
    json: { type: 'boolean', help: 'one JSON row per case on stdout' },
    batch: { type: 'string', value: 'N', help: 'images per step (32)' },
    steps: { type: 'string', value: 'N', help: 'timed steps per case, the fastest kept (5)' },
    rounds: { type: 'string', value: 'N', help: 'every case N times, round-robin (1)' },
    paired: { type: 'boolean', help: 'full fine-tuning before every case and after the last' },
    profile: { type: 'boolean', help: "onnxruntime's profiler: share of kernel time per op" },
    methods: { type: 'string', value: 'a,b', help: 'these cases only (all)' },
    model: {
      type: 'string',
      value: 'file.onnx',
      help: 'another backbone instead of ViT-Tiny; its table goes to bench/results/train-<file>.md',
    },
    out: { type: 'string', value: 'file.md', help: 'where the table goes; - for nowhere (bench/results/train.md)' },
    case: { type: 'string', value: 'name', help: '(internal) run one case in this process' },
    peak: { type: 'string', value: 'GFLOP/s', help: '(internal) the MatMul peak measured by the parent' },
  },
);
const args = flags.argv;
const json = flags.on('json');
const B = flags.integer('batch', 32);
const STEPS = flags.integer('steps', 5);
const PROFILE = flags.on('profile');
const ROUNDS = flags.integer('rounds', 1);
const PAIRED = flags.on('paired');
const CASES = [
  'full',
  'linear',
  'linear-cached-features',
  'bitfit',
  'lora',
  'l2sp',
  'spd',
  'gps',
  'gps-select',
  'pace-base',
  'pace',
  'pace-fast',
  'pytorch-reference',
];
const CASE = flags.list('case', CASES)?.[0];
const ASKED = flags.list('methods', [...CASES, 'full-repeat']);
/** variants of registry methods, as the CLI names them */
const VARIANTS: Record<string, { method: string; options: MethodOptions }> = {
  'pace-base': { method: 'pace', options: { sigma: 0, lambda: 0 } },
  'pace-fast': { method: 'pace', options: { fast: true } },
  'linear-cached-features': { method: 'linear', options: {} },
};
const VIT_TINY = '../shared/models/vit-tiny-patch16-224.onnx';
const MODEL = flags.text('model') ?? VIT_TINY;
/** the backbone's name in the table's title, and in its file's name for another backbone than ViT-Tiny */
const MODEL_NAME = MODEL === VIT_TINY ? 'ViT-Tiny/16' : basename(MODEL, '.onnx');
const C = 10;
const log = (...a: unknown[]) => !json && console.log(...a);

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
const shapeOf = (l: Record<string, number[]>[] | undefined, i: number): number[] =>
  Object.values(l?.[i] ?? {})[0] ?? [];

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
      inputs: [
        { name: 'a', dtype: 'float32', shape: [N, N] },
        { name: 'b', dtype: 'float32', shape: [N, N] },
      ],
      outputs: [{ name: 'y', dtype: 'float32', shape: [N, N] }],
    },
    opset: 17,
    extraOpsets: [],
    irVersion: 8,
    producer: 'bench',
    metadata: {},
  });
  const s = await ort.InferenceSession.create(m);
  const a = new ort.Tensor(
    'float32',
    Float32Array.from({ length: N * N }, (_, i) => Math.sin(i)),
    [N, N],
  );
  await s.run({ a, b: a });
  let best = Infinity;
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    await s.run({ a, b: a });
    best = Math.min(best, performance.now() - t);
  }
  return (2 * N ** 3) / (best / 1000) / 1e9;
}

/** One program measured (one or more sessions): a warm-up step, the median of STEPS steps, then one profiled step. */
interface Stepper {
  name: string;
  /** the models of its sessions */
  models: Uint8Array[];
  /** images one step trains on (the batch; GPS's selection reads two views of each) */
  images: number;
  /** their side in pixels: the backbone's input */
  imageSize: number;
  /** one step, host work included (state update, gradient accumulation) */
  step(sessions: ort.InferenceSession[], step: number): Promise<void>;
}

async function measure(c: Stepper, peak: number): Promise<Record<string, number | string>> {
  const open = (o: ort.InferenceSession.SessionOptions) =>
    Promise.all(
      c.models.map((m, i) =>
        ort.InferenceSession.create(m, {
          ...o,
          ...(o.enableProfiling ? { profileFilePrefix: `${o.profileFilePrefix}-${i}` } : {}),
        }),
      ),
    );
  const sessions = await open(ortOptions('cpu'));
  // RSS while stepping (sampled), besides the process's peak, which includes compiling the program
  let stepRss = 0;
  const sampler = setInterval(() => (stepRss = Math.max(stepRss, process.memoryUsage.rss())), 20);
  await c.step(sessions, 1); // warm-up: allocations, kernel selection
  const times: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    await c.step(sessions, s + 2);
    times.push(performance.now() - t);
  }
  clearInterval(sampler);
  times.sort((a, b) => a - b);
  // the fastest step: on a shared machine the slower ones measure the other tenants (the median is reported too)
  const best = times[0];
  const median = times[Math.floor(times.length / 2)];
  for (const s of sessions) await s.release();
  // one profiled step: FLOPs from the recorded kernel shapes, and where the time goes
  const profilePrefix = `/tmp/attune-bench-${c.name}-${process.pid}`;
  const profiled = await open({ ...ortOptions('cpu'), enableProfiling: true, profileFilePrefix: profilePrefix });
  // two steps, the first one's kernels dropped: a fresh session's first run also pays for its allocations
  await c.step(profiled, 2);
  await c.step(profiled, 3);
  for (const s of profiled) {
    (s as unknown as { endProfiling(): void }).endProfiling();
    await s.release();
  }
  // the binding does not return the file names: they are <prefix>-<i>_<timestamp>.json
  const dir = dirname(profilePrefix);
  const events: ProfileEvent[] = [];
  for (const f of readdirSync(dir).filter((f) => f.startsWith(basename(profilePrefix) + '-') && f.endsWith('.json'))) {
    const all = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ProfileEvent[];
    const runs = all.filter((e) => e.name === 'model_run').map((e) => e.ts);
    const second = runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)] ?? 0;
    events.push(...all.filter((e) => e.ts >= second));
    rmSync(join(dir, f), { force: true });
  }
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name);
  const flops = kernels.reduce((a, e) => a + kernelFlops(e), 0);
  const gflops = flops / (best / 1000) / 1e9;
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of kernels) {
    byOp.set(e.args!.op_name!, (byOp.get(e.args!.op_name!) ?? 0) + e.dur);
    total += e.dur;
  }
  const matmulShare =
    ['MatMul', 'FusedMatMul', 'Gemm', 'FusedGemm', 'Conv', 'FusedConv'].reduce((a, op) => a + (byOp.get(op) ?? 0), 0) /
    total;
  if (PROFILE) {
    console.error(`  where the time goes (${c.name}, share of kernel time in one step, ${kernels.length} kernels):`);
    for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 14))
      console.error(`    ${op.padEnd(22)} ${((100 * us) / total).toFixed(1)} %`);
    // element-wise kernels by output shape: which tensors the non-product time goes to
    const byShape = new Map<string, { us: number; n: number }>();
    for (const e of kernels) {
      if (kernelFlops(e) > 0) continue;
      const k = `${e.args!.op_name} [${shapeOf(e.args?.output_type_shape, 0).join(',')}]`;
      const v = byShape.get(k) ?? { us: 0, n: 0 };
      byShape.set(k, { us: v.us + e.dur, n: v.n + 1 });
    }
    console.error('  largest non-product kernels (op [output shape]: share, count):');
    for (const [k, v] of [...byShape].sort((a, b) => b[1].us - a[1].us).slice(0, 16))
      console.error(`    ${k.padEnd(40)} ${((100 * v.us) / total).toFixed(1)} %, ${v.n}`);
    // products by input shapes, with their own GFLOP/s: skinny or badly laid out products show up here
    const products = new Map<string, { us: number; n: number; flops: number }>();
    for (const e of kernels) {
      const f = kernelFlops(e);
      if (f === 0) continue;
      const shapes = (e.args?.input_type_shape ?? []).map((_, i) => shapeOf(e.args?.input_type_shape, i).join(','));
      const k = `${e.args!.op_name} [${shapes.join('] [')}]`;
      const v = products.get(k) ?? { us: 0, n: 0, flops: 0 };
      products.set(k, { us: v.us + e.dur, n: v.n + 1, flops: v.flops + f });
    }
    console.error('  largest product kernels (op [input shapes]: share, count, GFLOP/s):');
    for (const [k, v] of [...products].sort((a, b) => b[1].us - a[1].us).slice(0, 16))
      console.error(
        `    ${k.padEnd(52)} ${((100 * v.us) / total).toFixed(1)} %, ${v.n}, ${(v.flops / (v.us * 1e3)).toFixed(0)}`,
      );
  }
  return {
    model: basename(MODEL, '.onnx'),
    imageSize: c.imageSize,
    method: c.name,
    batch: B,
    imagesPerSecond: (c.images * 1000) / best,
    gflops,
    peakFraction: gflops / peak,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    stepRssMB: stepRss / 2 ** 20,
    stepMs: best,
    medianStepMs: median,
    gflopPerStep: flops / 1e9,
    matmulShareOfKernelTime: matmulShare,
    kernels: kernels.length,
  };
}

const images = (rowDims: number[], rows: number): Tensor => {
  const x = tensor('float32', [rows, ...rowDims]);
  for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] = Math.sin(i * 0.001);
  return x;
};
const toOrtFeeds = (f: Record<string, Tensor>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toOrt(v)]));

/** A train step of `label` (a registry method or a variant), as the trainer compiles it. */
async function trainStepper(label: string): Promise<Stepper> {
  const variant = VARIANTS[label];
  const method = getMethod(variant?.method ?? label);
  const headOnly = label === 'linear-cached-features';
  const bb = await loadBackbone(MODEL);
  const prepared = withNewHead(bb, C, 0);
  const saved = method.name === 'gps' ? standInSelection(prepared.model.graph, 1) : undefined;
  const mp = await method.prepare({ backbone: prepared, options: variant?.options ?? {}, seed: 0, batch: B }, saved);
  const model = headOnly ? headModel(prepared) : prepared.model;
  const t = performance.now();
  const p = await compileTrainProgram(model, mp.program, {
    batch: B,
    numClasses: C,
    clipNorm: method.defaults.clipNorm,
    update: mp.update,
  });
  console.error(
    `compiled ${label} in ${((performance.now() - t) / 1000).toFixed(1)} s: ${p.model.graph.nodes.length} nodes`,
  );
  const rowDims = headOnly ? [prepared.featureDim] : [3, bb.inputSize, bb.inputSize];
  return { ...programStepper(label, p, images(rowDims, B)), imageSize: bb.inputSize };
}

function programStepper(name: string, p: TrainProgram, x: Tensor): Omit<Stepper, 'imageSize'> {
  const state = TrainingState.fresh(p);
  const labels = Array.from({ length: B }, (_, i) => i % C);
  const files = labels.map((_, i) => `image-${i}.png`);
  const { targets, invWeight } = buildTargets(
    labels,
    labels.map(() => 1),
    C,
    0.1,
  );
  const feeds = (step: number) => {
    const f: Record<string, Tensor> = {
      [p.imageInput]: x,
      [TARGETS]: tensor('float32', [B, C], targets),
      [INV_WEIGHT]: tensor('float32', [], [invWeight]),
      [LR]: tensor('float32', [], [1e-5]),
      [BC1]: tensor('float32', [], [1 - 0.9 ** step]),
      [BC2]: tensor('float32', [], [1 - 0.999 ** step]),
    };
    // per-step inputs of the method (PACE's noise and drop-path masks, PACE-fast's stored logits)
    for (const e of p.extraInputs)
      f[e.name] = e.fill ? e.fill({ epoch: 0, step, seed: 0, batchFiles: files, count: B }) : e.neutral();
    state.feeds(f);
    return toOrtFeeds(f);
  };
  return {
    name,
    models: [encodeModel(p.model)],
    images: B,
    step: async ([session], step) => {
      const out = await session.run(feeds(step));
      const st: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(out))
        st[k] = { dtype: v.type as Tensor['dtype'], dims: [...v.dims], data: v.data as Float32Array };
      state.update(st);
    },
  };
}

/** GPS's selection pass: per batch of B images, SupCon over their 2B views, ∂L/∂W summed on the host (as GPS does). */
async function selectionStepper(): Promise<Stepper> {
  const bb = await loadBackbone(MODEL);
  const prepared = withNewHead(bb, C, 0);
  const row = 3 * bb.inputSize * bb.inputSize;
  const t = performance.now();
  const p = await compileSelectionProgram(prepared.model, 2 * B);
  console.error(
    `compiled gps-select in ${((performance.now() - t) / 1000).toFixed(1)} s: ${p.model.graph.nodes.length} nodes`,
  );
  const x = images([3, bb.inputSize, bb.inputSize], 2 * B).data as Float32Array;
  const labels = Int32Array.from({ length: 2 * B }, (_, i) => (i % B) % C);
  const sums = new Map(p.weights.map((w) => [w.name, new Float64Array(w.rows * w.cols)]));
  const models = [p.features, p.supcon, p.model];
  return {
    name: 'gps-select',
    models: models.map((m) => encodeModel(m)),
    images: B,
    imageSize: bb.inputSize,
    step: async (sessions) => {
      // the engine's runner over these sessions (so the profiler sees them)
      const asEngine = (s: ort.InferenceSession): Session => ({
        provider: 'cpu',
        inputNames: s.inputNames,
        outputNames: s.outputNames,
        run: async (feeds, fetch) => {
          const out = fetch ? await s.run(toOrtFeeds(feeds), fetch) : await s.run(toOrtFeeds(feeds));
          return Object.fromEntries(
            Object.entries(out).map(([k, v]) => [
              k,
              { dtype: v.type as Tensor['dtype'], dims: [...v.dims], data: v.data as Float32Array },
            ]),
          );
        },
        release: async () => {},
      });
      const runner = await SelectionRunner.create(p, async (m) => asEngine(sessions[models.indexOf(m)]));
      const grads = (await runner.step(x, labels, 2 * B, row))!;
      for (const w of p.weights) {
        const g = grads.get(w.name)!;
        const s = sums.get(w.name)!;
        for (let i = 0; i < s.length; i++) s[i] += g[i];
      }
    },
  };
}

async function child(label: string): Promise<void> {
  const peak = flags.number('peak', NaN);
  const stepper = label === 'gps-select' ? await selectionStepper() : await trainStepper(label);
  console.log(JSON.stringify(await measure(stepper, peak)));
}

/** bench/reference: a PyTorch eager step of the same ViT-Tiny (needs Debian's python3-torch and python3-torchvision) */
const REFERENCE = join(import.meta.dirname, 'reference', 'vit_tiny_step.py');
/** the eager reference is several times slower per step: fewer steps keep the run's length (and its load drift) down */
const REFERENCE_STEPS = Math.min(STEPS, 2);
/** The first Python that imports torch and torchvision (Debian's python3-torch lives in /usr/bin/python3's path). */
function referencePython(): { python?: string; why?: string } {
  if (MODEL !== VIT_TINY) return { why: "the reference builds ViT-Tiny; it does not read --model's backbone" };
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return { python };
  }
  return {
    why: 'PyTorch is not installed for python3 or /usr/bin/python3: apt-get install -y python3-torch python3-torchvision',
  };
}

if (CASE) {
  await child(CASE);
  process.exit(0);
}

const peak0 = await matmulPeak();
const load0 = loadavg();
log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${load0.map((l) => l.toFixed(1)).join(' ')}; onnxruntime MatMul peak ${peak0.toFixed(1)} GFLOP/s (1024³ float32)`,
);

// --rounds N: every case N times, round-robin, the fastest kept (the load of a shared machine drifts); each round
// starts at a different case, so that no case always runs first (a quiet start favoured full fine-tuning, the first
// case). With one round, full fine-tuning runs again at the end and the ratios use the mean of both
const hasBlocks = await hasTransformerBlocks(MODEL);
const cases = (ASKED ?? [...CASES, ...(ROUNDS === 1 ? ['full-repeat'] : [])]).filter(
  (c) => hasBlocks || !BLOCK_ADAPTER_CASES.has(c),
);
if (!hasBlocks) log(`${MODEL_NAME} has no transformer blocks: LoRA and PACE are left out`);
const rows: Record<string, number | string>[] = [];
/** every round's img/s per case; the row kept is the case's fastest round */
const runs = new Map<string, number[]>();
/** every run's peak RSS per case */
const rssRuns = new Map<string, number[]>();
/** keeps a case's fastest run; its peak RSS is the largest of its runs */
function keep(row: Record<string, number | string>): void {
  const at = rows.findIndex((r) => r.method === row.method);
  if (at < 0) rows.push(row);
  else if (rows[at].error || (!row.error && Number(row.imagesPerSecond) > Number(rows[at].imagesPerSecond)))
    rows[at] = { ...row, peakRssMB: Math.max(Number(row.peakRssMB), Number(rows[at].peakRssMB) || 0) };
  else if (!row.error) rows[at].peakRssMB = Math.max(Number(row.peakRssMB), Number(rows[at].peakRssMB));
}
const rotated = <T>(xs: T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length]);
let peak = await matmulPeak();
/** One case in its own process; its row, or undefined when it failed or was skipped. */
async function runCase(label: string, round: number): Promise<Record<string, number | string> | undefined> {
  // the peak too is the best seen: measured again before each case
  if (!label.startsWith('pytorch')) peak = Math.max(peak, await matmulPeak());
  // the eager reference is slow: once, in the last round
  if (label === 'pytorch-reference' && round < ROUNDS) return undefined;
  // a fresh process per case: its peak RSS is its own, and nothing one case allocated slows the next
  const forward = [
    ...['--batch', String(B), '--steps', String(STEPS), ...(PROFILE ? ['--profile'] : [])],
    ...(MODEL === VIT_TINY ? [] : ['--model', MODEL]),
  ];
  if (label === 'pytorch-reference') {
    const { why } = referencePython();
    if (why) {
      console.error(`pytorch-reference: skipped (${why})`);
      rows.push({ method: label, error: `skipped: ${why}` });
      return undefined;
    }
  }
  const cmd =
    label === 'pytorch-reference'
      ? ([referencePython().python!, [REFERENCE, '--batch', String(B), '--steps', String(REFERENCE_STEPS)]] as const)
      : ([
          process.execPath,
          [
            ...process.execArgv,
            process.argv[1],
            '--case',
            label === 'full-repeat' ? 'full' : label,
            '--peak',
            String(peak),
            ...forward,
          ],
        ] as const);
  const r = spawnSync(cmd[0], cmd[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    console.error(`${label}: failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
    keep({ method: label, error: `exit ${r.status}${r.signal ? ` ${r.signal}` : ''}` });
    return undefined;
  }
  const row: Record<string, number | string> = {
    ...(JSON.parse(line) as Record<string, number | string>),
    method: label,
    round,
  };
  (runs.get(label) ?? runs.set(label, []).get(label)!).push(Number(row.imagesPerSecond));
  (rssRuns.get(label) ?? rssRuns.set(label, []).get(label)!).push(Number(row.peakRssMB));
  keep(row);
  if (json) console.log(JSON.stringify(row));
  else
    log(
      `${label.padEnd(24)} batch ${B}: ${Number(row.imagesPerSecond).toFixed(1)} img/s, ${Number(row.gflops).toFixed(1)} GFLOP/s (${(Number(row.peakFraction) * 100).toFixed(0)} % of peak), peak RSS ${Number(row.peakRssMB).toFixed(0)} MB`,
    );
  return row;
}

/**
 * --paired: in every round, full fine-tuning runs before each case and after the last; a case's ratio in that round
 * is its step time over the mean of the full fine-tuning runs just before and after it, and the table gives the
 * median over rounds. The load of a shared machine drifts within minutes; a pair is seconds apart.
 */
const pairedRatios = new Map<string, number[]>();
const ips = (r: Record<string, number | string>) => Number(r.imagesPerSecond);
for (let round = 1; round <= ROUNDS; round++) {
  const order = rotated(cases, (round - 1) * Math.ceil(cases.length / ROUNDS));
  if (!PAIRED) {
    for (const label of order) await runCase(label, round);
    continue;
  }
  let before = await runCase('full', round);
  for (const label of order.filter((l) => l !== 'full' && l !== 'full-repeat')) {
    const row = await runCase(label, round);
    if (label === 'pytorch-reference' && !row) continue;
    const after = await runCase('full', round);
    if (row && before && after)
      (pairedRatios.get(label) ?? pairedRatios.set(label, []).get(label)!).push(
        (ips(before) + ips(after)) / 2 / ips(row),
      );
    before = after;
  }
}
rows.sort((a, b) => cases.indexOf(String(a.method)) - cases.indexOf(String(b.method)));
const load1 = loadavg();
if (json)
  console.log(JSON.stringify({ type: 'peak', matmulGflops: peak, cores: cpus().length, loadAverage: [load0, load1] }));
for (const r of rows) if (!r.error && r.gflops !== undefined) r.peakFraction = Number(r.gflops) / peak;
// the reference runs the same model: its GFLOP/s are full fine-tuning's FLOPs per step over its step time
const fullFlops = Number(rows.find((r) => r.method === 'full' && !r.error)?.gflopPerStep);
for (const r of rows)
  if (r.method === 'pytorch-reference' && !r.error && fullFlops)
    Object.assign(r, {
      gflops: fullFlops / (Number(r.stepMs) / 1000),
      peakFraction: fullFlops / (Number(r.stepMs) / 1000) / peak,
    });
const fulls = rows.filter((r) => (r.method === 'full' || r.method === 'full-repeat') && !r.error);
const fullIps = fulls.reduce((a, r) => a + Number(r.imagesPerSecond), 0) / fulls.length; // one row per round count
const median = (xs: number[]) => {
  const o = [...xs].sort((a, b) => a - b);
  return (o[Math.floor((o.length - 1) / 2)] + o[Math.ceil((o.length - 1) / 2)]) / 2;
};
// --paired runs full fine-tuning far more often than any case, so its largest peak would be an outlier's: medians
const rssOf = (method: string) => median(rssRuns.get(method) ?? [NaN]);
const fullRss = PAIRED ? rssOf('full') : Math.max(...fulls.map((r) => Number(r.peakRssMB)));
/**
 * seconds per image relative to full fine-tuning: the issue's "× full". Its fastest run against the case's, or with
 * --paired the median of the case's paired ratios.
 */
const ratio = (r: Record<string, number | string>) => {
  if (!fulls.length || r.error) return NaN;
  if (PAIRED && r.method === 'full') return 1;
  const p = pairedRatios.get(String(r.method));
  return PAIRED ? (p?.length ? median(p) : NaN) : fullIps / Number(r.imagesPerSecond);
};
const mem = (r: Record<string, number | string>) =>
  fulls.length && !r.error ? (PAIRED ? rssOf(String(r.method)) : Number(r.peakRssMB)) / fullRss : NaN;
if (json)
  for (const r of rows)
    if (!r.error)
      console.log(
        JSON.stringify({ type: 'ratio', method: r.method, secondsPerImageVsFull: ratio(r), peakRssVsFull: mem(r) }),
      );
const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');
/** the last column: img/s of every round, and with --paired every round's ratio */
const perRound = (r: Record<string, number | string>) => {
  const speeds = (runs.get(String(r.method)) ?? []).map((v) => v.toFixed(1)).join(', ');
  const p = pairedRatios.get(String(r.method));
  return p ? `${speeds} (× ${p.map((v) => v.toFixed(2)).join(', ')})` : speeds;
};
const outFile =
  flags.text('out') ?? join(import.meta.dirname, 'results', MODEL === VIT_TINY ? 'train.md' : `train-${MODEL_NAME}.md`);
if (outFile !== '-') {
  const inputSize = rows.find((r) => r.imageSize)?.imageSize ?? '?';
  const md = [
    `# Training step speed and memory per method (${MODEL_NAME} at ${inputSize}, CPU)`,
    '',
    `Generated by \`npm run bench:train -- ${args.join(' ')}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpus()[0]?.model}).`,
    `Load average (1, 5, 15 min) ${load0.map((l) => l.toFixed(1)).join(', ')} at the start and ${load1.map((l) => l.toFixed(1)).join(', ')} at the end: the machine is shared, so compare the ratios (same run), not the absolute figures.`,
    `Batch ${B}, ${C} classes, the fastest of ${STEPS} steps after one warm-up step (the PyTorch reference: ${REFERENCE_STEPS}); every case in its own process, ${ROUNDS} round(s) round-robin (each round starting at a different case), the fastest round kept (img/s of every round in the last column; the reference runs in the last round only)${PAIRED ? '; full fine-tuning ran before every case and after the last of each round, and a case\'s "step × full" is the median over rounds of its step time against the mean of the full fine-tuning runs just before and after it (paired ratios in the last column, which lists every full fine-tuning run), and the memory "× full" is the median of its runs\' peak RSS against the median of full fine-tuning\'s' : ''}. onnxruntime MatMul peak on this machine: ${peak.toFixed(1)} GFLOP/s (1024³ float32, the best of the measurements before each case).`,
    "\"× full\" is the step time relative to full fine-tuning (lower is faster). Peak RSS is the process's maximum, compiling the program included; step RSS is sampled while stepping. gps-select is one batch of GPS's selection pass (2 views per image); pace-base is PACE's adapter alone (σ = 0, λ = 0).",
    '',
    '| method | img/s | step × full | GFLOP/s | % of MatMul peak | MatMul share of kernel time | peak RSS MB | × full | step RSS MB | img/s per round |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      r.error
        ? `| ${r.method} | failed: ${r.error} | | | | | | | | |`
        : `| ${r.method} | ${f(Number(r.imagesPerSecond), 1)} | ${f(ratio(r))} | ${f(Number(r.gflops), 1)} | ${f(100 * Number(r.peakFraction), 0)} | ${f(100 * Number(r.matmulShareOfKernelTime), 0)} % | ${f(Number(r.peakRssMB), 0)} | ${f(mem(r))} | ${f(Number(r.stepRssMB), 0)} | ${perRound(r)} |`,
    ),
    '',
  ].join('\n');
  // the hand-written analysis below the table (from "## Notes" on) survives a new run
  let notes = '';
  try {
    const old = readFileSync(outFile, 'utf8');
    notes = old.includes('\n## Notes') ? old.slice(old.indexOf('\n## Notes')) : '';
  } catch {
    // first run: no notes yet
  }
  writeFileSync(outFile, md + notes);
  log(md);
}
