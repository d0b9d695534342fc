/**
 * How close the trainer's memory estimate (engine/programs/memory.ts) comes to what a real training run peaks at:
 * each case is `attune train` on the 16-bit CT PNGs in ../shared (about 70 training images, one epoch, batch 32,
 * CPU) in its own process, with the process's maximum resident memory from GNU time (`/usr/bin/time -f %M`) and
 * the estimate from the run's own `memory` event. Writes bench/results/memory.md (unless --out -); a "## Notes"
 * section at its end is kept. Linux only (GNU time and /proc): elsewhere it stops with the reason.
 * Usage: npm run bench:memory [-- --models a.onnx,b.onnx] [--methods full,bitfit,...] [--json] [--out file.md]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join, resolve } from 'node:path';
import { BLOCK_ADAPTER_CASES, hasTransformerBlocks } from './block-adapters';
import { readFlags } from './args';

const ROOT = resolve(import.meta.dirname, '..');
const SHARED = resolve(ROOT, '../shared');
const DATA = join(SHARED, 'datasets/ct-contrast-png16');
const DEFAULT_MODELS = ['models/vit-tiny-patch16-224.onnx', 'models/mobilenetv2-1.0-backbone.onnx'].map((m) =>
  join(SHARED, m),
);
/** the methods whose training program the estimate covers (the linear probe trains on cached features) */
const CASES: Record<string, string[]> = {
  full: ['--method', 'full'],
  bitfit: ['--method', 'bitfit'],
  lora: ['--method', 'lora'],
  gps: ['--method', 'gps'],
  spd: ['--method', 'full', '--optimizer', 'spd'],
  'pace-base': ['--method', 'pace', '--pace-sigma', '0', '--pace-lambda', '0'],
  pace: ['--method', 'pace'],
  'pace-fast': ['--method', 'pace', '--pace-fast'],
};

const flags = readFlags(
  'npm run bench:memory -- [flags]: the trainer memory estimate against the measured peak of real runs',
  {
    models: { type: 'string', value: 'a.onnx,b.onnx', help: 'backbones (ViT-Tiny and MobileNetV2 in ../shared)' },
    methods: { type: 'string', value: 'a,b', help: `cases (${Object.keys(CASES).join(', ')})` },
    batch: { type: 'string', value: 'N', help: 'batch size (32)' },
    json: { type: 'boolean', help: 'one JSON row per case on stdout' },
    out: { type: 'string', value: 'file.md', help: 'where the table goes; - for nowhere (bench/results/memory.md)' },
  },
);
const models =
  flags
    .text('models')
    ?.split(',')
    .map((m) => resolve(m)) ?? DEFAULT_MODELS;
const methods = flags.list('methods', Object.keys(CASES)) ?? Object.keys(CASES);
const batch = flags.integer('batch', 32, 1);
const outFlag = flags.text('out');
const outFile = outFlag === '-' ? undefined : (outFlag ?? join(ROOT, 'bench/results/memory.md'));

for (const need of ['/usr/bin/time', '/proc/meminfo', DATA, ...models])
  if (!existsSync(need)) {
    console.error(`bench:memory needs ${need} (GNU time, Linux and the shared data); not run.`);
    process.exit(1);
  }

interface Row {
  model: string;
  method: string;
  batch: number;
  estimatedMB: number;
  peakRssMB: number;
  /** estimate over measurement − 1 */
  error: number;
  seconds: number;
}

const MB = 2 ** 20;
const rows: Row[] = [];
for (const model of models) {
  const hasBlocks = await hasTransformerBlocks(model);
  for (const method of methods) {
    if (BLOCK_ADAPTER_CASES.has(method) && !hasBlocks) continue;
    const dir = mkdtempSync(join(os.tmpdir(), 'attune-bench-memory-'));
    const t0 = performance.now();
    const r = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        'maxrss-kb %M',
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'engine/cli/main.ts'),
        'train',
        '--data',
        DATA,
        '--model',
        model,
        ...CASES[method],
        '--epochs',
        '1',
        '--batch',
        String(batch),
        '--provider',
        'cpu',
        '--out',
        join(dir, 'run'),
        '--json',
      ],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * MB },
    );
    const seconds = (performance.now() - t0) / 1000;
    rmSync(dir, { recursive: true, force: true });
    const kb = /maxrss-kb (\d+)/.exec(r.stderr)?.[1];
    const memory = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; estimatedBytes?: number })
      .find((e) => e.type === 'memory');
    if (r.status !== 0 || !kb || !memory?.estimatedBytes) {
      console.error(`${basename(model)} ${method}: no measurement (exit ${r.status})\n${r.stderr.slice(-2000)}`);
      process.exit(1);
    }
    const row: Row = {
      model: basename(model, '.onnx'),
      method,
      batch,
      estimatedMB: memory.estimatedBytes / MB,
      peakRssMB: Number(kb) / 1024,
      error: memory.estimatedBytes / MB / (Number(kb) / 1024) - 1,
      seconds,
    };
    rows.push(row);
    if (flags.on('json')) console.log(JSON.stringify(row));
    console.error(
      `${row.model.padEnd(28)} ${method.padEnd(10)} estimate ${row.estimatedMB.toFixed(0).padStart(6)} MB, peak ${row.peakRssMB.toFixed(0).padStart(6)} MB (${row.error >= 0 ? '+' : ''}${(100 * row.error).toFixed(0)} %), ${seconds.toFixed(0)} s`,
    );
  }
}

const worst = Math.max(...rows.map((r) => Math.abs(r.error)));
console.error(`worst case: ${(100 * worst).toFixed(0)} % off`);
if (outFile) {
  const md = [
    '# The trainer memory estimate against real runs',
    '',
    `Generated by \`npm run bench:memory${flags.argv.length ? ' -- ' + flags.argv.join(' ') : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB.`,
    `Each case is \`attune train\` on \`../shared/datasets/ct-contrast-png16\` (one epoch, batch ${batch}, CPU) in its own process: "estimate" is the run's own \`memory\` event (engine/programs/memory.ts), "peak" the process's maximum resident memory (GNU time). Worst case ${(100 * worst).toFixed(0)} % off.`,
    '',
    '| backbone | method | estimate MB | peak MB | estimate ÷ peak − 1 | seconds |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.method} | ${r.estimatedMB.toFixed(0)} | ${r.peakRssMB.toFixed(0)} | ${r.error >= 0 ? '+' : ''}${(100 * r.error).toFixed(0)} % | ${r.seconds.toFixed(0)} |`,
    ),
    '',
  ].join('\n');
  const old = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
  const notes = old.includes('\n## Notes') ? old.slice(old.indexOf('\n## Notes')) : '';
  writeFileSync(outFile, md + notes);
  console.error(`wrote ${outFile}`);
}
