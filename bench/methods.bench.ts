/**
 * Fine-tuning methods on ViT-Tiny/16: aid-satellite-subset and busi-ultrasound, one seeded split per dataset
 * shared by every method, each method with its defaults (METHODS.md), several seeds. Reports test accuracy
 * mean ± std, trainable-parameter %, seconds per epoch and the process's peak RSS; writes bench/results/methods.md.
 * Usage: npx tsx bench/methods.bench.ts [--json] [--quick] [--methods a,b] [--datasets a,b] [--seeds N] [--epochs N] [--per-class N] [--out file.md]
 * --quick: 12 images per class of 5 classes (AID) / 3 classes (BUSI), 2 epochs, batch 8, 1 seed — a smoke run on 2 CPU cores.
 * Methods are registry names, `name+spd` (that method with the SPD optimizer) or a variant below; `@B` after one
 * sets its batch (e.g. `pace@16`, the app's preset for PACE without a GPU).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBackbone, withNewHead } from '../engine/backbone/load';
import { parameterCount } from '../engine/methods/layers';
import type { MethodOptions } from '../engine/methods/method';
import { METHODS } from '../engine/methods/registry';
import { loadCheckpoint } from '../engine/run/checkpoint';
import { runFiles } from '../engine/run/spec';
import { trainRun } from '../engine/train/trainer';

const argv = process.argv.slice(2);
const flag = (n: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const json = argv.includes('--json');
const quick = argv.includes('--quick');
const seeds = Number(flag('seeds') ?? (quick ? 1 : 3));
const epochs = flag('epochs') ? Number(flag('epochs')) : quick ? 2 : undefined;
const perClass = Number(flag('per-class') ?? (quick ? 12 : 40));
const batch = quick ? 8 : undefined;
const methods = (flag('methods') ?? 'linear,full,bitfit,lora,l2sp,gps,pace-base,pace,full+spd').split(',');
/** PACE's base adapter (METHODS.md: LoRAmul + VPTadd) without noise or consistency, to see what PACE adds to it */
const VARIANTS: Record<string, { method: string; options: MethodOptions }> = { 'pace-base': { method: 'pace', options: { sigma: 0, lambda: 0 } } };
const outFile = flag('out') ?? path.join(import.meta.dirname, 'results', 'methods.md');
const root = path.resolve(import.meta.dirname, '../../shared');
const model = path.join(root, 'models/vit-tiny-patch16-224.onnx');
const datasets = [
  { name: 'aid-satellite-subset', classes: quick ? 5 : 10 },
  { name: 'busi-ultrasound', classes: 3 },
].filter((d) => !flag('datasets') || flag('datasets')!.split(',').includes(d.name));

function subset(name: string, classes: number): string {
  const src = path.join(root, 'datasets', name);
  const dir = mkdtempSync(path.join(os.tmpdir(), `attune-bench-${name}-`));
  for (const c of readdirSync(src).sort().slice(0, classes)) {
    mkdirSync(path.join(dir, c));
    for (const f of readdirSync(path.join(src, c)).sort().slice(0, perClass)) copyFileSync(path.join(src, c, f), path.join(dir, c, f));
  }
  return dir;
}

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
const backbone = await loadBackbone(model);
const rows: Record<string, unknown>[] = [];
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
const std = (a: number[]) => (a.length > 1 ? Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1)) : 0);

for (const ds of datasets) {
  const data = subset(ds.name, ds.classes);
  const out = mkdtempSync(path.join(os.tmpdir(), 'attune-bench-runs-'));
  let splitFile: string | undefined;
  // parameters of the network that trains: the backbone up to its features plus the new C-class head
  const params = parameterCount(withNewHead(backbone, ds.classes, 0).model.graph);
  for (const label of methods) {
    const [spec, batchOverride] = label.split('@');
    const [base, opt] = spec.split('+');
    const name = VARIANTS[base]?.method ?? base;
    const method = METHODS.find((m) => m.name === name);
    if (!method) throw new Error(`no method or variant called ${base}`);
    const acc: number[] = [];
    const secs: number[] = [];
    let trainable = 0;
    peak = 0;
    for (let s = 0; s < seeds; s++) {
      const runDir = path.join(out, `${label}-${s}`);
      const r = await trainRun(
        { data, model, method: name, methodOptions: VARIANTS[base]?.options, epochs: method.cachedFeatures ? undefined : epochs, batch: batchOverride ? Number(batchOverride) : batch, seed: s, splitFile, optimizer: opt === 'spd' ? 'spd' : undefined, outDir: runDir },
        { onEvent: (e) => e.type === 'epoch' && secs.push(e.seconds) },
      );
      splitFile ??= runFiles(r.runDir).split; // the same split for every method and seed
      acc.push(r.test?.accuracy ?? NaN);
      const best = await loadCheckpoint(runFiles(r.runDir).best);
      trainable = [...best.tensors.values()].reduce((a, t) => a + t.data.length, 0);
    }
    const row = { dataset: ds.name, method: label, defaults: method.defaults, seeds, testAccuracyMean: mean(acc), testAccuracyStd: std(acc), trainablePercent: (100 * trainable) / params, secondsPerEpoch: mean(secs), peakRssMiB: Math.round(peak / 2 ** 20) };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
    else console.error(`${ds.name} ${label}: ${(100 * row.testAccuracyMean).toFixed(1)} ± ${(100 * row.testAccuracyStd).toFixed(1)} %`);
  }
}
clearInterval(sampler);

const md = [
  '# Fine-tuning methods on ViT-Tiny/16 (CPU)',
  '',
  `Generated by \`npx tsx bench/methods.bench.ts ${argv.join(' ')}\` on ${os.cpus().length} CPU cores, ${new Date().toISOString().slice(0, 10)}.`,
  `${perClass} images per class of the first ${datasets.map((d) => `${d.classes} classes of ${d.name}`).join(' and the ')}; the same seeded split for every method; ${seeds} seed(s); epochs ${epochs ?? 'method default'} (the linear probe keeps its default: its epochs run on cached features), batch ${batch ?? 'method default'}.`,
  'Trainable % counts trained tensors (adapters, δ, biases, head) against the parameters of the network being trained (the backbone up to its features and the new head); peak RSS is the whole benchmark process during that method\'s runs. pace-base is PACE\'s adapter without noise or consistency (σ = 0, λ = 0).',
  '',
  '| dataset | method | test acc. (mean ± std) | trainable % | s / epoch | peak RSS MiB |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.dataset} | ${r.method} | ${(100 * (r.testAccuracyMean as number)).toFixed(1)} ± ${(100 * (r.testAccuracyStd as number)).toFixed(1)} | ${(r.trainablePercent as number).toFixed(3)} | ${(r.secondsPerEpoch as number).toFixed(1)} | ${r.peakRssMiB} |`),
  '',
].join('\n');
writeFileSync(outFile, md);
if (!json) console.log(md);
