/// <reference types="vite/client" />
/**
 * The ONE place the app calls the engine. Runs inside the job worker (utility process / forked Node process),
 * never in Electron's main event loop.
 *
 * The engine is written concurrently; functions are looked up by name in `engine/api.ts` (the lead's façade) and
 * `engine/data/scan.ts`.
 * A function that does not exist yet raises a clear "not available yet" error: the UI never shows invented results.
 */
import { access } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, isAbsolute, join } from 'node:path';
import type {
  BackboneInfo,
  EngineContract,
  EngineEvent,
  EvaluationReport,
  ExportResult,
  MethodListing,
  Prediction,
  ScanReport,
  TrainRequest,
  TrainResult,
} from './engine-contract';
import { UserError } from '../ipc/errors';

type AnyFn = (...args: any[]) => any;
type Loader = () => Promise<Record<string, unknown>>;

/** Vite (electron-vite build of the worker) resolves this at build time; under plain Node/tsx it throws and we fall back. */
function viteModules(): Record<string, Loader> | null {
  try {
    return import.meta.glob(['../../engine/api.ts', '../../engine/data/scan.ts']) as Record<string, Loader>;
  } catch {
    return null;
  }
}

async function nodeModules(): Promise<Record<string, Loader>> {
  const here = dirname(fileURLToPath(import.meta.url));
  const engine = join(here, '..', '..', 'engine');
  const out: Record<string, Loader> = {};
  for (const file of [join(engine, 'api.ts'), join(engine, 'data', 'scan.ts')]) {
    if (await access(file).then(() => true, () => false)) out[file] = () => import(pathToFileURL(file).href);
  }
  return out;
}

let cache: Promise<Record<string, unknown>[]> | null = null;

async function loadEngine(): Promise<Record<string, unknown>[]> {
  cache ??= (async () => {
    const loaders = viteModules() ?? (await nodeModules());
    const mods: Record<string, unknown>[] = [];
    // api.ts first, so the lead's façade wins over lower-level functions of the same name
    const keys = Object.keys(loaders).sort((a, b) => Number(b.endsWith('api.ts')) - Number(a.endsWith('api.ts')));
    for (const key of keys) {
      mods.push(await loaders[key]());
    }
    return mods;
  })();
  cache.catch(() => (cache = null));
  return cache;
}

async function engineFunction(name: string): Promise<AnyFn> {
  for (const mod of await loadEngine()) {
    const fn = mod[name];
    if (typeof fn === 'function') return fn as AnyFn;
  }
  throw new UserError(
    'engine-not-available',
    `This step is not available yet: the engine does not provide "${name}" in this build.`,
    'Update Attune to a build whose engine includes this feature. Your projects and data are unchanged.',
  );
}

/** Which contract functions the engine provides right now (shown on Home / in diagnostics). */
export async function engineCapabilities(): Promise<Record<string, boolean>> {
  const names = ['scanDataset', 'inspectBackbone', 'listMethods', 'trainRun', 'evaluateRun', 'exportRun', 'predictWithModel'];
  const mods = await loadEngine().catch(() => []);
  return Object.fromEntries(names.map((n) => [n, mods.some((m) => typeof m[n] === 'function')]));
}

const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

function normaliseScan(raw: any, root: string): ScanReport {
  const base: string = typeof raw?.root === 'string' ? raw.root : root;
  const abs = (f: string) => (isAbsolute(f) ? f : join(base, f));
  const classes = Array.isArray(raw?.classes) ? raw.classes : [];
  const items: any[] = Array.isArray(raw?.items) ? raw.items : [];
  const examples = new Map<string, string[]>();
  for (const it of items) {
    const list = examples.get(it?.label) ?? [];
    if (list.length < 6 && typeof it?.file === 'string') list.push(abs(it.file));
    examples.set(it?.label, list);
  }
  const img = raw?.images;
  const formats = img?.formats ? Object.entries(img.formats).map(([f, n]) => `${n} ${String(f).toUpperCase()}`).join(', ') : '';
  const size = img?.width && img?.height ? (img.width.min === img.width.max && img.height.min === img.height.max ? `${img.width.min}×${img.height.min} px` : `${img.width.min}–${img.width.max} × ${img.height.min}–${img.height.max} px`) : '';
  return {
    root: base,
    total: num(raw?.total, classes.reduce((s: number, c: any) => s + num(c?.count), 0)),
    classes: classes.map((c: any) => ({
      name: String(c?.name ?? '?'),
      count: num(c?.count),
      examples: examples.get(c?.name) ?? (Array.isArray(c?.examples) ? c.examples.map(String) : undefined),
    })),
    layout: String(raw?.layout?.kind ?? raw?.layout ?? 'unknown'),
    fingerprint: typeof raw?.fingerprint === 'string' ? raw.fingerprint : null,
    imageSummary: [formats, size].filter(Boolean).join(', ') || null,
    splits: raw?.splits && typeof raw.splits === 'object' ? normaliseSplits(raw.splits) : null,
    problems: (Array.isArray(raw?.problems) ? raw.problems : []).map((p: any) => ({
      file: String(p?.file ?? ''),
      kind: String(p?.kind ?? 'problem'),
      message: String(p?.message ?? ''),
      excluded: p?.excluded !== false,
    })),
    issues: (Array.isArray(raw?.issues) ? raw.issues : []).map((i: any) => ({
      severity: i?.severity === 'error' ? 'error' : 'warning',
      kind: String(i?.kind ?? 'issue'),
      message: String(i?.message ?? ''),
      class: typeof i?.class === 'string' ? i.class : undefined,
    })),
  };
}

function normaliseSplits(s: any): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === 'number') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.length;
    else if (v && typeof v === 'object' && typeof (v as any).count === 'number') out[k] = (v as any).count;
  }
  return Object.keys(out).length ? out : null;
}

export const engine: EngineContract = {
  async scanDataset(path, opts, onEvent): Promise<ScanReport> {
    const fn = await engineFunction('scanDataset');
    let last = 0;
    const raw = await fn(path, {
      labels: opts.csvPath,
      cacheDir: opts.cacheDir,
      onEvent,
      onProgress: (done: number, total: number, phase: string) => {
        const now = Date.now();
        if (now - last > 120 || done === total) {
          last = now;
          onEvent({ type: 'progress', phase: phase === 'hash' ? 'Checking for duplicates' : 'Reading image headers', done, total });
        }
      },
    });
    return normaliseScan(raw, path);
  },
  async inspectBackbone(modelPath): Promise<BackboneInfo> {
    const fn = await engineFunction('inspectBackbone');
    const r = await fn(modelPath);
    return {
      modelPath,
      ok: r?.ok ?? (!r?.unsupportedOps?.length && !!r?.featureTensor),
      featureTensor: r?.featureTensor?.name ?? r?.featureTensor ?? null,
      featureDim: r?.featureDim ?? r?.featureTensor?.dim ?? null,
      unsupportedOps: r?.unsupportedOps ?? [],
      inputSize: r?.inputSize ?? r?.preprocessing?.size ?? null,
      preprocessing: r?.preprocessing ?? null,
      parameterCount: num(r?.parameterCount),
      notes: r?.notes ?? r?.warnings ?? [],
    };
  },
  async listMethods(ctx): Promise<MethodListing> {
    const fn = await engineFunction('listMethods');
    return (await fn(ctx)) as MethodListing;
  },
  async trainRun(request: TrainRequest, opts): Promise<TrainResult> {
    const fn = await engineFunction('trainRun');
    return (await fn(request, opts)) as TrainResult;
  },
  async evaluateRun(runDir): Promise<EvaluationReport> {
    const fn = await engineFunction('evaluateRun');
    return (await fn(runDir)) as EvaluationReport;
  },
  async exportRun(runDir, outDir, opts): Promise<ExportResult> {
    const fn = await engineFunction('exportRun');
    const r = await fn(runDir, outDir, opts);
    return { outDir: r?.outDir ?? outDir, files: r?.files ?? [] };
  },
  async predictWithModel(modelPath, files): Promise<Prediction[]> {
    const fn = await engineFunction('predictWithModel');
    return (await fn(modelPath, files)) as Prediction[];
  },
};

export type { EngineEvent };
