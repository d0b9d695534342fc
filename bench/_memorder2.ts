// scratch: liveness of onnxruntime's actual execution order for one method's train step
import { readFileSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadBackbone, withNewHead } from '../engine/backbone/load';
import { tensor, type Tensor } from '../engine/ir/tensor';
import { decodeModel, encodeModel } from '../engine/onnx/io';
import { BC1, BC2, compileTrainProgram, INV_WEIGHT, LR, TARGETS } from '../engine/programs/compile';
import { buildTargets } from '../engine/programs/loss';
import { getMethod } from '../engine/methods/registry';
import { TrainingState } from '../engine/train/state';
import { toOrt } from '../engine/runtime/session';
import { topKPerRow } from '../engine/methods/gps/select';
import { weightMatrices } from '../engine/methods/layers';

const label = process.argv[2] ?? 'full';
const B = 32,
  C = 10;
const method = getMethod(label.startsWith('pace') ? 'pace' : label);
const options = label === 'pace-fast' ? { fast: true } : label === 'pace-base' ? { sigma: 0, lambda: 0 } : {};
const bb = await loadBackbone(process.env.MODEL ?? '../shared/models/vit-tiny-patch16-224.onnx');
const prepared = withNewHead(bb, C, 0);
const sel = () => {
  const matrices = weightMatrices(prepared.model.graph).map((w) => ({
    ...w,
    idx: Array.from(
      topKPerRow(
        Float64Array.from({ length: w.rows * w.cols }, (_, i) => Math.sin(i * 12.9898)),
        w,
        1,
      ),
    ),
  }));
  return { k: 1, tau: 0.07, matrices, blockCounts: {}, selected: 0, totalWeights: 0 };
};
const mp = await method.prepare(
  { backbone: prepared, options, seed: 0, batch: B },
  label === 'gps' ? (sel() as never) : undefined,
);
const p = await compileTrainProgram(prepared.model, mp.program, {
  batch: B,
  numClasses: C,
  clipNorm: method.defaults.clipNorm,
  update: mp.update,
});
const opt = `/work/scratch/opt-${label}.onnx`;
console.error(
  'after compile: rss',
  (process.memoryUsage().rss / 2 ** 20).toFixed(0),
  'max',
  (process.resourceUsage().maxRSS / 1024).toFixed(0),
  'heap',
  (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0),
  'ext',
  (process.memoryUsage().external / 2 ** 20).toFixed(0),
  'ab',
  (process.memoryUsage().arrayBuffers / 2 ** 20).toFixed(0),
);
if (process.env.ORTLOG) ort.env.logLevel = 'verbose';
const s = await ort.InferenceSession.create(encodeModel(p.model), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: (process.env.OPT ?? 'all') as 'all',
  interOpNumThreads: 1,
  logSeverityLevel: process.env.ORTLOG ? 0 : 3,
  logVerbosityLevel: 10,
  optimizedModelFilePath: opt,
  enableProfiling: true,
  enableMemPattern: process.env.NOPAT ? false : true,
  enableCpuMemArena: process.env.NOARENA ? false : true,
  ...(process.env.NOPACK ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  profileFilePrefix: `/work/scratch/prof-${label}`,
});
console.error('after session: rss', (process.memoryUsage().rss / 2 ** 20).toFixed(0));
const state = TrainingState.fresh(p);
const labels = Array.from({ length: B }, (_, i) => i % C);
const { targets, invWeight } = buildTargets(
  labels,
  labels.map(() => 1),
  C,
  0.1,
);
const x = tensor('float32', [B, 3, bb.inputSize, bb.inputSize]);
const f: Record<string, Tensor> = {
  [p.imageInput]: x,
  [TARGETS]: tensor('float32', [B, C], targets),
  [INV_WEIGHT]: tensor('float32', [], [invWeight]),
  [LR]: tensor('float32', [], [1e-5]),
  [BC1]: tensor('float32', [], [0.1]),
  [BC2]: tensor('float32', [], [0.001]),
};
for (const e of p.extraInputs)
  f[e.name] = e.fill
    ? e.fill({ epoch: 0, step: 1, seed: 0, batchFiles: labels.map((l, i) => `i${i}`), count: B })
    : e.neutral();
state.feeds(f);
for (let i = 0; i < Number(process.env.STEPS ?? 1); i++) {
  await s.run(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toOrt(v)])));
  console.error('step', i, 'peak rss', process.resourceUsage().maxRSS / 1024, 'MB');
}
(s as unknown as { endProfiling(): string }).endProfiling();
const file =
  '/work/scratch/' +
  readdirSync('/work/scratch')
    .filter((f) => f.startsWith(`prof-${label}`))
    .sort()
    .at(-1);
const prof = JSON.parse(readFileSync(file, 'utf8')) as {
  cat: string;
  name: string;
  ts: number;
  args?: { output_size?: string; op_name?: string };
}[];
const order = prof
  .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
  .sort((a, b) => a.ts - b.ts)
  .map((e) => e.name.slice(0, -'_kernel_time'.length));
const om = decodeModel(new Uint8Array(readFileSync(opt)));
const byName = new Map(om.graph.nodes.map((n) => [n.name, n]));
const size = new Map<string, number>();
for (const e of prof)
  if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
    const n = byName.get(e.name.slice(0, -12));
    if (n && n.outputs.length === 1) size.set(n.outputs[0], Number(e.args?.output_size ?? 0));
  }
const outputs = new Set(om.graph.outputs.map((o) => o.name));
const born = new Map<string, number>(),
  last = new Map<string, number>();
order.forEach((name, i) => {
  const n = byName.get(name);
  if (!n) return;
  for (const o of n.outputs) born.set(o, i);
  for (const inp of n.inputs) if (born.has(inp)) last.set(inp, i);
});
let live = 0,
  peak = 0,
  peakAt = 0;
const delta = new Array(order.length + 1).fill(0);
for (const [t, b] of born) {
  const sz = size.get(t) ?? 0;
  const e = outputs.has(t) ? order.length : (last.get(t) ?? b);
  delta[b] += sz;
  delta[e + 1 <= order.length ? e + 1 : order.length] -= sz;
}
for (let i = 0; i < order.length; i++) {
  live += delta[i];
  if (live > peak) {
    peak = live;
    peakAt = i;
  }
}
console.log(
  `${label}: ${order.length} kernels, simulated peak of live tensors ${(peak / 2 ** 20).toFixed(0)} MB at kernel ${peakAt} (${order[peakAt]})`,
);
// what is live at the peak, by producer op and lifetime
const rows: [string, number, number, number][] = [];
for (const [t, b] of born) {
  const e = outputs.has(t) ? order.length : (last.get(t) ?? b);
  if (b <= peakAt && e >= peakAt) rows.push([`${byName.get(order[b])?.op} ${t.slice(0, 60)}`, size.get(t) ?? 0, b, e]);
}
rows.sort((a, b) => b[1] - a[1]);
const byOp = new Map<string, number>();
for (const r of rows) {
  const op = r[0].split(' ')[0];
  byOp.set(op, (byOp.get(op) ?? 0) + r[1]);
}
console.log(
  [...byOp]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([o, v]) => `${o} ${(v / 2 ** 20).toFixed(0)}`)
    .join(', '),
);
for (const r of rows.slice(0, 40)) console.log(`${(r[1] / 2 ** 20).toFixed(1)} MB  born ${r[2]} last ${r[3]}  ${r[0]}`);
if (process.env.WHO) {
  const pos = new Map(order.map((n, i) => [n, i]));
  const t = [...born.keys()].find((k) => k.includes(process.env.WHO!))!;
  console.log('tensor', t);
  for (const n of om.graph.nodes.filter((n) => n.inputs.includes(t))) {
    console.log('  read by', n.op, n.name, 'at', pos.get(n.name), '→', n.outputs.join(','));
    for (const m of om.graph.nodes.filter((k) => n.outputs.some((o) => k.inputs.includes(o))))
      console.log('      then', m.op, m.name, 'at', pos.get(m.name), 'inputs', m.inputs.join(' | '));
  }
}
{
  const ws = new Set([32 * 192 * 576 * 4, 32 * 192 * 192 * 4, 32 * 192 * 768 * 4]);
  let maxLive = 0,
    at = 0;
  const ev: [number, number][] = [];
  for (const [t, b] of born)
    if (ws.has(size.get(t) ?? 0)) {
      const e = last.get(t) ?? b;
      ev.push([b, size.get(t)!], [e + 1, -size.get(t)!]);
    }
  ev.sort((a, b) => a[0] - b[0]);
  let cur = 0;
  for (const [i, d] of ev) {
    cur += d;
    if (cur > maxLive) {
      maxLive = cur;
      at = i;
    }
  }
  console.log(
    `per-sample-sized tensors: ${ev.length / 2}, most live at once ${(maxLive / 2 ** 20).toFixed(0)} MB at kernel ${at}`,
  );
  const long = [...born]
    .filter(([t]) => ws.has(size.get(t) ?? 0))
    .map(([t, b]) => [t, b, last.get(t) ?? b, byName.get(order[b])?.op] as const)
    .sort((a, b) => b[2] - b[1] - (a[2] - a[1]));
  for (const l of long.slice(0, 12)) console.log('  ', l[3], l[0].slice(0, 50), 'born', l[1], 'last', l[2]);
  const missing = [...born.keys()].filter((t) => !size.has(t)).length;
  console.log('tensors without a recorded size:', missing, 'of', born.size);
}
if (process.env.FIRST)
  for (const [i, name] of order.slice(0, Number(process.env.FIRST)).entries()) {
    const n = byName.get(name);
    console.log(i, n?.op, name, '<-', n?.inputs.map((x) => x.slice(0, 40)).join(' | '));
  }
