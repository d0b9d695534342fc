/**
 * k-fold splits for a sweep: every image in exactly one test fold, stratified by class, and group-aware (a patient,
 * site or exact-duplicate set never spans folds). Each fold becomes an ordinary split.json (test = that fold;
 * val carved from the rest by the data layer's own group-aware split), so trials use `attune train --split`.
 */
import type { DatasetSplit, SplitInputItem } from '../data/split';
import { splitDataset } from '../data/split';
import { rngFor, shuffleInPlace } from '../util/random';
import { AttuneError } from '../errors';

/** Fold index (0..k-1) for every item, in input order. */
export function assignFolds(items: SplitInputItem[], k: number, seed: number): number[] {
  // units: items joined by a shared group or content hash (union-find)
  const parent = items.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const first = new Map<string, number>();
  items.forEach((it, i) => {
    for (const key of [it.group && `g:${it.group}`, it.hash && `h:${it.hash}`]) {
      if (!key) continue;
      const j = first.get(key);
      if (j === undefined) first.set(key, i);
      else parent[find(i)] = find(j);
    }
  });
  const byRoot = new Map<number, number[]>();
  items.forEach((_, i) => {
    const r = find(i);
    byRoot.set(r, [...(byRoot.get(r) ?? []), i]);
  });
  const units = shuffleInPlace([...byRoot.values()], rngFor(seed, 0xf01d));
  units.sort((a, b) => b.length - a.length); // big units first, while every fold has room
  const classes = [...new Set(items.map((i) => i.label))];
  const total = new Map(classes.map((c) => [c, items.filter((i) => i.label === c).length]));
  const cur = Array.from({ length: k }, () => new Map(classes.map((c) => [c, 0])));
  const size = Array.from({ length: k }, () => 0);
  const fold = new Array<number>(items.length).fill(-1);
  for (const unit of units) {
    let best = 0;
    let bestScore = -Infinity;
    for (let f = 0; f < k; f++) {
      // the fold furthest below its share of these classes (ties: the smaller fold, then the lower index)
      let score = 0;
      for (const i of unit)
        score += (total.get(items[i].label)! / k - cur[f].get(items[i].label)!) / total.get(items[i].label)!;
      score -= size[f] * 1e-9;
      if (score > bestScore) {
        bestScore = score;
        best = f;
      }
    }
    for (const i of unit) {
      fold[i] = best;
      cur[best].set(items[i].label, cur[best].get(items[i].label)! + 1);
      size[best]++;
    }
  }
  return fold;
}

/** k splits: fold f is the test set of split f; val is carved (group-aware) from the other folds. */
export function kFoldSplits(
  input: { items: SplitInputItem[]; fingerprint?: string },
  k: number,
  seed: number,
  valShare = 0.1,
): DatasetSplit[] {
  if (k < 2)
    throw new AttuneError(
      'sweep-folds',
      `--folds must be 2 or more for cross-validation, not ${k}.`,
      'Use --folds 0 for one shared split.',
    );
  const items = input.items.map(({ file, label, group, hash }) => ({ file, label, group, hash }));
  const groups = new Set(items.map((i) => i.group ?? i.file)).size;
  if (groups < k)
    throw new AttuneError(
      'sweep-folds',
      `${k} folds need at least ${k} images or groups; the dataset has ${groups}.`,
      'Use fewer folds.',
    );
  const folds = assignFolds(items, k, seed);
  return Array.from({ length: k }, (_, f) => {
    const s = splitDataset(
      items.map((it, i) => ({ ...it, split: folds[i] === f ? ('test' as const) : ('train' as const) })),
      { seed: seed + f, ratios: [1 - valShare, valShare, 0.1] },
    );
    return { ...s, ...(input.fingerprint ? { datasetFingerprint: input.fingerprint } : {}) };
  });
}
