/**
 * Data pipeline throughput: files → normalised 224×224 tensors with the `natural` preset, per dataset,
 * cold (nothing cached: every image decoded) and cached (decoded images in memory, augmentation only).
 * Usage: npx tsx bench/data.bench.ts [--json] [--batch-size N]
 */
import os from 'node:os';
import path from 'node:path';
import { createBatchLoader } from '../engine/data/loader';
import { DecodedImageCache } from '../engine/data/image-cache';
import { scanDataset } from '../engine/data/scan';
import { defaultPreprocessing, VIT_NORMALISATION } from '../engine/preprocessing';

const json = process.argv.includes('--json');
const bsArg = process.argv.indexOf('--batch-size');
const batchSize = bsArg > 0 ? Number(process.argv[bsArg + 1]) : 64;
const root = path.resolve(import.meta.dirname, '../../shared/datasets');
const pre = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);

async function epoch(items: { file: string; label: number }[], cache: DecodedImageCache | false, epochNo: number): Promise<number> {
  const loader = createBatchLoader({ items, pre, augment: 'natural', batchSize, seed: 1, epoch: epochNo, shuffle: true, cache });
  const t0 = performance.now();
  let n = 0;
  for await (const b of loader) n += b.count;
  return n / ((performance.now() - t0) / 1000);
}

for (const dataset of ['aid-satellite-subset', 'busi-ultrasound']) {
  const report = await scanDataset(path.join(root, dataset), { cache: false });
  const classes = report.classes.map((c) => c.name);
  const items = report.items.map((i) => ({ file: path.join(report.root, i.file), label: classes.indexOf(i.label) }));
  const cold = await epoch(items, false, 0);
  const cache = new DecodedImageCache(2 * 1024 ** 3);
  await epoch(items, cache, 0); // fill
  const cached = await epoch(items, cache, 1);
  const scanMs = report.durationMs;
  for (const [mode, ips] of [['cold', cold], ['cached', cached]] as const) {
    const row = { dataset, mode, imagesPerSecond: Math.round(ips), images: items.length, batchSize, augment: 'natural', size: 224, cores: os.availableParallelism(), scanMs: Math.round(scanMs) };
    if (json) console.log(JSON.stringify(row));
    else console.log(`${dataset.padEnd(22)} ${mode.padEnd(7)} ${row.imagesPerSecond.toString().padStart(6)} images/s  (${items.length} images, batch ${batchSize}, scan ${row.scanMs} ms)`);
  }
}
