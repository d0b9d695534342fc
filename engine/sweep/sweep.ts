/**
 * A sweep folder: sweep.json (the spec, its configurations and trials: the job description), the shared split or
 * the k folds under splits/, jobs/<index>.sh, and one ordinary run folder per trial under trials/.
 * Opening an existing folder with the same spec reuses it (re-running a command resumes the sweep).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import { assertTrainable, scanDataset } from '../data/scan';
import { saveSplit, splitDataset } from '../data/split';
import { applyOverrides } from '../data/overrides';
import { readJsonFile, writeJsonAtomic } from '../util/fs';
import { kFoldSplits } from './folds';
import { expandConfigs, expandTrials, foldCount, type SweepConfig, type Trial } from './grid';
import { splitFileFor, writeJobScripts } from './job';
import { validateSweepSpec, type SweepSpec } from './spec';

export interface Sweep {
  dir: string;
  spec: SweepSpec;
  configs: SweepConfig[];
  trials: Trial[];
  folds: number;
}

const SweepFileSchema = z.object({
  version: z.literal(1),
  spec: z.unknown(),
  configs: z.array(z.unknown()),
  trials: z.array(z.unknown()),
  createdAt: z.string(),
});

const sweepFile = (dir: string) => join(resolve(dir), 'sweep.json');

/** Reads an existing sweep folder (for --status, --cancel and re-runs). */
export async function loadSweep(dir: string): Promise<Sweep> {
  const f = await readJsonFile(sweepFile(dir), SweepFileSchema, {
    unreadable: {
      code: 'sweep-missing',
      message: `${dir} is not an Attune sweep folder (no readable sweep.json).`,
      hint: 'Choose the folder that `attune sweep --out` wrote.',
    },
    invalid: {
      code: 'sweep-invalid',
      message: `${dir}/sweep.json is damaged or from another version.`,
      hint: 'Start the sweep in a new folder.',
    },
  });
  const spec = validateSweepSpec(f.spec, `${dir}/sweep.json`);
  return {
    dir: resolve(dir),
    spec,
    configs: f.configs as SweepConfig[],
    trials: f.trials as Trial[],
    folds: foldCount(spec),
  };
}

/** Whether `dir` holds a sweep of another spec (openSweep would refuse to reopen it). */
export async function holdsOtherSweep(dir: string, spec: SweepSpec): Promise<boolean> {
  const root = resolve(dir);
  return existsSync(sweepFile(root)) && !sameSpec((await loadSweep(root)).spec, spec);
}

const sameSpec = (a: SweepSpec, b: SweepSpec) => JSON.stringify(a) === JSON.stringify(b);

/** Creates the sweep folder (splits, job scripts) or reopens it when it holds the same spec. */
export async function openSweep(
  spec: SweepSpec,
  dir: string,
  opts: { onEvent?: EventSink; scanCacheDir?: string; only?: string[]; epochs?: number } = {},
): Promise<Sweep> {
  const root = resolve(dir);
  if (existsSync(sweepFile(root))) {
    const old = await loadSweep(root);
    if (!sameSpec(old.spec, spec))
      throw new AttuneError(
        'sweep-mismatch',
        `${root} holds a different sweep.`,
        'Re-run it with the same options (or --spec), or choose a new --out folder.',
      );
    return old;
  }
  // a method race's rung runs some of the configurations for a shorter budget
  const configs = expandConfigs(spec).filter((c) => !opts.only || opts.only.includes(c.id));
  const trials = expandTrials(configs, spec, { epochs: opts.epochs });
  const folds = foldCount(spec);
  // the trials' own scan: with every frame of multi-frame files an item when they train on all frames
  const report = await scanDataset(spec.data, {
    labels: spec.labels,
    columns: spec.columns,
    frames: spec.frames,
    cacheDir: opts.scanCacheDir,
    onEvent: opts.onEvent,
  });
  assertTrainable(report);
  // the user's corrections go into the splits, which every trial trains and is tested on
  const corrected = {
    ...report,
    items: applyOverrides(
      report.items,
      spec.overrides,
      report.classes.map((c) => c.name),
    ),
  };
  await mkdir(join(root, 'splits'), { recursive: true });
  // one split for every trial (seed 0 of the split, whatever the training seed), or k folds
  if (folds > 1) {
    const splits = kFoldSplits(corrected, folds, 0);
    for (const [f, s] of splits.entries()) await saveSplit(splitFileFor(root, f, folds), s);
  } else await saveSplit(splitFileFor(root, 0, 1), splitDataset(corrected, { seed: 0, ratios: spec.ratios }));
  await writeJobScripts(root, spec, configs, trials, folds);
  await writeJsonAtomic(sweepFile(root), { version: 1, spec, configs, trials, createdAt: new Date().toISOString() });
  return { dir: root, spec, configs, trials, folds };
}
