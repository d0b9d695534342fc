/**
 * Data pipeline throughput: files → normalised 224×224 tensors with augmentation, per dataset, cold
 * (nothing cached: every image decoded) and cached (decoded images in memory, augmentation only).
 * Rows: 8-bit photos (sharp fast path), 16-bit CT PNG, DICOM CT and the dicom-zoo (JPEG 2000, JPEG-LS, RLE,
 * JPEG lossless/baseline, big-endian, multi-frame, palette …), 13-band Sentinel-2 GeoTIFF (bands mapped to RGB
 * and all 13 bands). The bar: well above 3× what a full fine-tuning step consumes (~12.5 images/s here).
 * Usage: npx tsx bench/data.bench.ts [--json] [--batch-size N] [--only name,name] [--out file.md]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitBandScaling, SENTINEL2_REFLECTANCE_SCALE, type BandSelection } from '../engine/data/bands';
import { readRaster } from '../engine/data/geotiff';
import { createBatchLoader } from '../engine/data/loader';
import { DecodedImageCache } from '../engine/data/image-cache';
import { scanDataset } from '../engine/data/scan';
import { defaultPreprocessing, VIT_NORMALISATION, type Preprocessing } from '../engine/preprocessing';
import type { AugmentPreset } from '../engine/data/augment';
import { readFlags } from './args';

const flags = readFlags('npx tsx bench/data.bench.ts [flags]: images/s of the data pipeline per dataset', {
  json: { type: 'boolean', help: 'the rows as JSON on stdout' },
  'batch-size': { type: 'string', value: 'N', help: 'images per batch (64)' },
  only: { type: 'string', value: 'a,b', help: 'these rows only (all)' },
  out: { type: 'string', value: 'file.md', help: 'also write the table here' },
});
const json = flags.on('json');
const batchSize = flags.integer('batch-size', 64);
const only = flags.text('only')?.split(',');
const outFile = flags.text('out');
const root = path.resolve(import.meta.dirname, '../../shared/datasets');
const base = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);

async function epoch(
  items: { file: string; label: number }[],
  pre: Preprocessing,
  augment: AugmentPreset,
  cache: DecodedImageCache | false,
  epochNo: number,
): Promise<number> {
  const loader = createBatchLoader({ items, pre, augment, batchSize, seed: 1, epoch: epochNo, shuffle: true, cache });
  const t0 = performance.now();
  let n = 0;
  for await (const b of loader) n += b.count;
  return n / ((performance.now() - t0) / 1000);
}

interface Case {
  name: string;
  dataset: string;
  augment: AugmentPreset;
  /** the value mapping of this row (default: 8-bit x/255, DICOM file window, 16-bit percentiles) */
  values?: (items: { file: string }[]) => Promise<Preprocessing['values']>;
}

const bandValues =
  (selection: BandSelection) =>
  async (items: { file: string }[]): Promise<Preprocessing['values']> => {
    async function* rasters() {
      for (const it of items) yield await readRaster(it.file);
    }
    const scaling = await fitBandScaling(rasters(), { valueScale: SENTINEL2_REFLECTANCE_SCALE });
    return { ...base.values, bands: { selection, bandCount: 13, scaling } };
  };

const CASES: Case[] = [
  { name: 'aid-satellite-subset', dataset: 'aid-satellite-subset', augment: 'natural' },
  { name: 'busi-ultrasound', dataset: 'busi-ultrasound', augment: 'natural' },
  {
    name: 'ct-contrast-png16 (16-bit, HU window)',
    dataset: 'ct-contrast-png16',
    augment: 'medical',
    values: async () => ({ ...base.values, voi: { kind: 'window', center: 50, width: 350 }, offset: 32768 }),
  },
  { name: 'ct-contrast-dicom (file window)', dataset: 'ct-contrast-dicom', augment: 'medical' },
  { name: 'dicom-zoo (JPEG 2000, JPEG-LS, RLE, …)', dataset: 'dicom-zoo', augment: 'medical' },
  {
    name: 'eurosat-ms 13-band → RGB 4,3,2',
    dataset: 'eurosat-ms',
    augment: 'aerial',
    values: bandValues({ mode: 'map', bands: [4, 3, 2] }),
  },
  {
    name: 'eurosat-ms 13-band, all bands',
    dataset: 'eurosat-ms',
    augment: 'aerial',
    values: bandValues({ mode: 'all' }),
  },
];

const rows: Record<string, unknown>[] = [];
for (const c of CASES) {
  if (only && !only.some((o) => c.name.startsWith(o))) continue;
  const report = await scanDataset(path.join(root, c.dataset), { cache: false });
  const classes = report.classes.map((k) => k.name);
  const items = report.items.map((i) => ({ file: path.join(report.root, i.file), label: classes.indexOf(i.label) }));
  const pre: Preprocessing = { ...base, values: c.values ? await c.values(items) : base.values };
  const cold = await epoch(items, pre, c.augment, false, 0);
  const cache = new DecodedImageCache(2 * 1024 ** 3);
  await epoch(items, pre, c.augment, cache, 0); // fill
  const cached = await epoch(items, pre, c.augment, cache, 1);
  for (const [mode, ips] of [
    ['cold', cold],
    ['cached', cached],
  ] as const) {
    const row = {
      dataset: c.name,
      mode,
      imagesPerSecond: Math.round(ips),
      images: items.length,
      batchSize,
      augment: c.augment,
      size: 224,
      cores: os.availableParallelism(),
      scanMs: Math.round(report.durationMs),
    };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
    else
      console.log(
        `${c.name.padEnd(42)} ${mode.padEnd(7)} ${String(row.imagesPerSecond).padStart(6)} images/s  (${items.length} images, ${c.augment}, batch ${batchSize}, scan ${row.scanMs} ms)`,
      );
  }
}
if (outFile) {
  const table = rows
    .map((r) => `| ${r.dataset} | ${r.mode} | ${r.imagesPerSecond} | ${r.images} | ${r.augment} | ${r.scanMs} |`)
    .join('\n');
  writeFileSync(
    outFile,
    `| dataset | mode | images/s | images | augment | scan ms |\n|---|---|---|---|---|---|\n${table}\n`,
  );
}
