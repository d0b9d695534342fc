/**
 * Train/val/test splits: stratified by class, seeded, group-aware (images of one patient, site or
 * exact-duplicate set never straddle a boundary), and saved as `split.json` so that every run on
 * the same data evaluates on the same images.
 */
import path from 'node:path';
import { z } from 'zod';
import { AttuneError } from '../errors';
import { rngFor, shuffleInPlace } from '../util/random';
import { readJsonFile, writeFileAtomic } from '../util/fs';
import { SPLIT_NAMES, type ScanReport, type SplitName } from './types';

export interface SplitInputItem {
  file: string;
  label: string;
  /** a split given by the layout (wins over the random assignment) */
  split?: SplitName;
  group?: string;
  /** content hash: identical files are kept together like a group */
  hash?: string;
}

export interface SplitItem {
  file: string;
  label: string;
  split: SplitName;
  group?: string;
}

export interface DatasetSplit {
  version: 1;
  seed: number;
  ratios: [number, number, number];
  /** 'layout': all splits given; 'layout+random': missing splits carved from train; 'random' */
  source: 'layout' | 'layout+random' | 'random';
  /** class names in label-index order (sorted) */
  classes: string[];
  items: SplitItem[];
  /** fingerprint of the scan it was made from, when known */
  datasetFingerprint?: string;
}

export interface SplitOptions {
  /** train, val, test; default [0.8, 0.1, 0.1] */
  ratios?: [number, number, number];
  seed?: number;
  /** keep groups (and exact duplicates) on one side; default true */
  groups?: boolean;
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** Per-class target counts: largest remainder, then ≥ 1 image in val (n ≥ 2) and test (n ≥ 4), and in train. */
export function classTargets(n: number, ratios: [number, number, number]): [number, number, number] {
  const sum = ratios[0] + ratios[1] + ratios[2];
  const exact = ratios.map((r) => (n * r) / sum);
  const t = exact.map(Math.floor) as [number, number, number];
  let left = n - t[0] - t[1] - t[2];
  const order = [0, 1, 2].sort((a, b) => exact[b] - t[b] - (exact[a] - t[a]) || a - b);
  for (let k = 0; left > 0; k++, left--) t[order[k % 3]]++;
  const take = (to: number) => {
    const from = [0, 1, 2].filter((s) => s !== to).sort((a, b) => t[b] - t[a] || a - b)[0];
    if (t[from] > 1 || (from !== 0 && t[from] > 0)) {
      t[from]--;
      t[to]++;
    }
  };
  if (t[0] === 0 && n > 0) take(0);
  if (ratios[1] > 0 && n >= 2 && t[1] === 0) take(1);
  if (ratios[2] > 0 && n >= 4 && t[2] === 0) take(2);
  return t;
}

/** Assigns `pool` to splits in `ratios`, stratified and group-aware. Mutates nothing; returns split per item. */
function assignRandom(
  pool: SplitInputItem[],
  ratios: [number, number, number],
  seed: number,
  groups: boolean,
): Map<SplitInputItem, SplitName> {
  // units: union of items sharing a group or a content hash
  const parent = pool.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const union = (key: Map<string, number>, k: string | undefined, i: number) => {
    if (!k) return;
    const j = key.get(k);
    if (j === undefined) key.set(k, i);
    else parent[find(i)] = find(j);
  };
  const groupKey = new Map<string, number>();
  const hashKey = new Map<string, number>();
  pool.forEach((it, i) => {
    if (groups) union(groupKey, it.group, i);
    union(hashKey, it.hash, i);
  });
  const unitsMap = new Map<number, SplitInputItem[]>();
  pool.forEach((it, i) => {
    const r = find(i);
    const xs = unitsMap.get(r);
    if (xs) xs.push(it);
    else unitsMap.set(r, [it]);
  });
  const units = shuffleInPlace([...unitsMap.values()], rngFor(seed, 0x5917));
  units.sort((a, b) => b.length - a.length); // big groups first, while every split still has room

  const counts = new Map<string, number>();
  for (const it of pool) counts.set(it.label, (counts.get(it.label) ?? 0) + 1);
  const target = new Map<string, [number, number, number]>();
  for (const [c, n] of counts) target.set(c, classTargets(n, ratios));
  const cur = new Map<string, [number, number, number]>();
  for (const c of counts.keys()) cur.set(c, [0, 0, 0]);

  const out = new Map<SplitInputItem, SplitName>();
  const place = (unit: SplitInputItem[], s: number, sign: 1 | -1) => {
    for (const it of unit) cur.get(it.label)![s] += sign;
  };
  const unitSplit = new Map<SplitInputItem[], number>();
  for (const unit of units) {
    let best = 0;
    let bestScore = -Infinity;
    for (let s = 0; s < 3; s++) {
      if (ratios[s] <= 0) continue;
      let score = 0;
      for (const it of unit) {
        const t = target.get(it.label)![s];
        const c = cur.get(it.label)![s];
        // deficit relative to the target: fill splits proportionally
        score += (t - c) / Math.max(1, t);
      }
      if (score > bestScore + 1e-12) {
        bestScore = score;
        best = s;
      }
    }
    place(unit, best, 1);
    unitSplit.set(unit, best);
  }
  // a class that can be split must be trainable: move its smallest unit into train if needed
  for (const [c, n] of counts) {
    if (n < 2 || cur.get(c)![0] > 0) continue;
    const candidates = units
      .filter((u) => unitSplit.get(u) !== 0 && u.some((it) => it.label === c))
      .sort((a, b) => a.length - b.length);
    if (candidates.length > 0) {
      place(candidates[0], unitSplit.get(candidates[0])!, -1);
      place(candidates[0], 0, 1);
      unitSplit.set(candidates[0], 0);
    }
  }
  for (const [unit, s] of unitSplit) for (const it of unit) out.set(it, SPLIT_NAMES[s]);
  return out;
}

/** Splits a scan report (or plain items). A split given by the layout wins. */
export function splitDataset(input: ScanReport | SplitInputItem[], opts: SplitOptions = {}): DatasetSplit {
  const ratios = opts.ratios ?? [0.8, 0.1, 0.1];
  if (ratios.length !== 3 || ratios.some((r) => !(r >= 0)) || !(ratios[0] > 0)) {
    throw new AttuneError(
      'split-ratios',
      `Invalid split ratios ${JSON.stringify(ratios)}.`,
      'Give three non-negative numbers with a positive train share, e.g. 0.8,0.1,0.1.',
    );
  }
  const seed = opts.seed ?? 0;
  const groups = opts.groups ?? true;
  const items = (Array.isArray(input) ? input : input.items).map((it) => ({ ...it })).sort(byFile);
  const classes = [...new Set(items.map((i) => i.label))].sort();
  const given = new Set(items.filter((i) => i.split).map((i) => i.split!));
  const assigned = new Map<SplitInputItem, SplitName>();
  let source: DatasetSplit['source'] = 'random';
  if (given.size > 0) {
    source = 'layout';
    for (const it of items) if (it.split) assigned.set(it, it.split);
    // carve missing splits out of train, with the ratios they would have had relative to train
    const missing = SPLIT_NAMES.filter((s, k) => !given.has(s) && ratios[k] > 0);
    const trainPool = items.filter((i) => i.split === 'train' || !i.split);
    if (missing.length > 0 && given.has('train')) {
      source = 'layout+random';
      const sub: [number, number, number] = [
        ratios[0],
        missing.includes('val') ? ratios[1] : 0,
        missing.includes('test') ? ratios[2] : 0,
      ];
      for (const [it, s] of assignRandom(trainPool, sub, seed, groups)) assigned.set(it, s);
    } else {
      // items without a split in a layout that gives splits: put them in train
      for (const it of items) if (!it.split) assigned.set(it, 'train');
    }
  } else {
    for (const [it, s] of assignRandom(items, ratios, seed, groups)) assigned.set(it, s);
  }
  return {
    version: 1,
    seed,
    ratios,
    source,
    classes,
    items: items.map((it) => ({
      file: it.file,
      label: it.label,
      split: assigned.get(it)!,
      ...(it.group ? { group: it.group } : {}),
    })),
    ...(!Array.isArray(input) ? { datasetFingerprint: input.fingerprint } : {}),
  };
}

const SplitSchema = z.object({
  version: z.literal(1),
  seed: z.number(),
  ratios: z.tuple([z.number(), z.number(), z.number()]),
  source: z.enum(['layout', 'layout+random', 'random']),
  classes: z.array(z.string()),
  items: z.array(
    z.object({
      file: z.string(),
      label: z.string(),
      split: z.enum(['train', 'val', 'test']),
      group: z.string().optional(),
    }),
  ),
  datasetFingerprint: z.string().optional(),
});

export async function saveSplit(file: string, split: DatasetSplit): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(split, null, 1)}\n`);
}

/**
 * Loads a saved split. With `report`, checks that every file is still in the dataset
 * (a split that silently drops test images would change the score).
 */
export async function loadSplit(file: string, report?: Pick<ScanReport, 'items'>): Promise<DatasetSplit> {
  const split = (await readJsonFile(file, SplitSchema, {
    unreadable: {
      code: 'split-unreadable',
      message: `Cannot read the split file ${file}.`,
      hint: 'Make a new split (the run will save it).',
    },
    invalid: {
      code: 'split-invalid',
      message: `${file} is not a valid split file.`,
      hint: 'Make a new split (the run will save it).',
    },
  })) as DatasetSplit;
  if (report) {
    const present = new Set(report.items.map((i) => i.file));
    const missing = split.items.filter((i) => !present.has(i.file));
    if (missing.length > 0) {
      throw new AttuneError(
        'split-stale',
        `${missing.length} image(s) of the saved split are no longer usable in the dataset, e.g. ${missing
          .slice(0, 3)
          .map((m) => m.file)
          .join(', ')}.`,
        'Restore the files, or make a new split (results will not be comparable with earlier runs).',
        { missing: missing.map((m) => m.file) },
      );
    }
  }
  return split;
}

/** Loader input for one split: absolute paths and label indices in `split.classes` order. */
export function splitItems(split: DatasetSplit, root: string, which: SplitName): { file: string; label: number }[] {
  const index = new Map(split.classes.map((c, i) => [c, i]));
  return split.items
    .filter((i) => i.split === which)
    .map((i) => ({ file: path.resolve(root, i.file), label: index.get(i.label)! }));
}

/** Counts per split and class, for reports. */
export function splitCounts(split: DatasetSplit): Record<SplitName, Record<string, number>> {
  const out: Record<SplitName, Record<string, number>> = { train: {}, val: {}, test: {} };
  for (const it of split.items) out[it.split][it.label] = (out[it.split][it.label] ?? 0) + 1;
  return out;
}
