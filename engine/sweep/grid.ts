/** Grid expansion: a spec's methods × hyper-parameter grid into configurations, then × seeds × folds into trials. */
import type { MethodOptions } from '../methods/method';
import { getMethod } from '../methods/registry';
import type { SweepSpec } from './spec';

export interface SweepConfig {
  /** stable, file-name-safe id, e.g. `lora-rank4-lr0.001` */
  id: string;
  /** the method entry it came from (its name): the unit a paper's selection on validation picks within */
  group: string;
  method: string;
  options: MethodOptions;
  lr?: number;
  batch?: number;
  epochs?: number;
  weightDecay?: number;
  optimizer?: 'adamw' | 'spd';
  spdLambda?: number;
  warmupEpochs?: number;
  labelSmoothing?: number;
  /** null: no gradient clipping */
  clipNorm?: number | null;
}

export interface Trial {
  /** position in the job description (Slurm array index, Kubernetes completion index) */
  index: number;
  /** run folder name under trials/ */
  id: string;
  config: string;
  seed: number;
  /** 0 for the shared split; 0..k-1 with k folds */
  fold: number;
  /** an epoch budget that overrides the configuration's (method race rungs) */
  epochs?: number;
}

const cartesian = <T>(axes: T[][]): T[][] =>
  axes.reduce<T[][]>((acc, xs) => acc.flatMap((a) => xs.map((x) => [...a, x])), [[]]);
const safe = (s: string) => s.replace(/[^A-Za-z0-9._+-]+/g, '_');

/** Every configuration: each method entry × the grid values that apply to it (only options the method has). */
export function expandConfigs(spec: SweepSpec): SweepConfig[] {
  const out: SweepConfig[] = [];
  for (const entry of spec.methods) {
    const e =
      typeof entry === 'string'
        ? { method: entry, options: {} as MethodOptions, name: undefined }
        : { ...entry, options: entry.options ?? {} };
    const method = getMethod(e.method);
    const axes: [string, (number | string | boolean)[]][] = [];
    const own = typeof entry === 'string' ? {} : (entry.grid ?? {});
    for (const [k, vs] of Object.entries(own)) axes.push([k === 'spdLambda' ? k : `opt:${k}`, vs]);
    for (const [k, vs] of Object.entries(spec.grid.options ?? {}))
      if (method.options.some((o) => o.name === k) && !(k in e.options) && !(k in own)) axes.push([`opt:${k}`, vs]);
    for (const k of ['lr', 'batch', 'epochs', 'weightDecay'] as const) {
      const vs = spec.grid[k];
      if (vs && (typeof entry === 'string' || entry[k] === undefined)) axes.push([k, vs]);
    }
    for (const combo of cartesian(axes.map(([, vs]) => vs))) {
      const fixed =
        typeof entry === 'string'
          ? {}
          : {
              lr: entry.lr,
              batch: entry.batch,
              epochs: entry.epochs,
              weightDecay: entry.weightDecay,
              optimizer: entry.optimizer,
              spdLambda: entry.spdLambda,
              warmupEpochs: entry.warmupEpochs,
              labelSmoothing: entry.labelSmoothing,
              clipNorm: entry.clipNorm,
            };
      const c: SweepConfig = {
        id: '',
        group: e.name ?? method.name,
        method: method.name,
        options: { ...e.options },
        ...Object.fromEntries(Object.entries(fixed).filter(([, v]) => v !== undefined)),
      };
      const parts = [e.name ?? method.name, ...(e.name ? [] : Object.entries(e.options).map(([k, v]) => `${k}${v}`))];
      combo.forEach((v, i) => {
        const key = axes[i][0];
        if (key.startsWith('opt:')) c.options[key.slice(4)] = v;
        else (c as unknown as Record<string, unknown>)[key] = v;
        parts.push(`${key.replace(/^opt:/, '')}${String(v)}`);
      });
      c.id = safe(parts.join('-'));
      out.push(c);
    }
  }
  const seen = new Set<string>();
  for (const c of out) {
    let id = c.id;
    for (let k = 2; seen.has(id); k++) id = `${c.id}-${k}`;
    c.id = id;
    seen.add(id);
  }
  return out;
}

export const foldCount = (spec: SweepSpec): number => (spec.folds >= 2 ? spec.folds : 1);

/** Trials in a fixed order (config, fold, seed): the index is stable when the same spec is run again. */
export function expandTrials(
  configs: SweepConfig[],
  spec: SweepSpec,
  opts: { prefix?: string; epochs?: number; startIndex?: number } = {},
): Trial[] {
  const trials: Trial[] = [];
  let index = opts.startIndex ?? 0;
  const k = foldCount(spec);
  for (const c of configs)
    for (let fold = 0; fold < k; fold++)
      for (const seed of spec.seeds)
        trials.push({
          index: index++,
          id: `${opts.prefix ?? ''}${c.id}-s${seed}${k > 1 ? `-f${fold}` : ''}`,
          config: c.id,
          seed,
          fold,
          ...(opts.epochs ? { epochs: opts.epochs } : {}),
        });
  return trials;
}
