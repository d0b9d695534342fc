/// <reference types="vite/client" />
/**
 * The ONE place the app calls the engine. Runs inside the job worker (utility process / forked Node process),
 * never in Electron's main event loop.
 *
 * The engine is written concurrently; functions are looked up by name in `engine/api.ts` (the lead's façade) first,
 * then in the modules that implement them today (data/scan, train/trainer, export/export, backbone/load, methods/registry,
 * methods/recommend, predict/predict).
 * A function that does not exist yet raises a clear "not available yet" error: the UI never shows invented results.
 */
import { access, readFile } from 'node:fs/promises';
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
    return import.meta.glob(['../../engine/api.ts', '../../engine/data/scan.ts', '../../engine/train/trainer.ts', '../../engine/export/export.ts', '../../engine/backbone/load.ts', '../../engine/methods/registry.ts', '../../engine/methods/recommend.ts', '../../engine/predict/predict.ts']) as Record<string, Loader>;
  } catch {
    return null;
  }
}

async function nodeModules(): Promise<Record<string, Loader>> {
  const here = dirname(fileURLToPath(import.meta.url));
  const engine = join(here, '..', '..', 'engine');
  const out: Record<string, Loader> = {};
  const files = ['api.ts', 'data/scan.ts', 'train/trainer.ts', 'export/export.ts', 'backbone/load.ts', 'methods/registry.ts', 'methods/recommend.ts', 'predict/predict.ts'].map((f) => join(engine, f));
  for (const file of files) {
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

async function engineExport(name: string): Promise<unknown> {
  for (const mod of await loadEngine()) if (mod[name] !== undefined) return mod[name];
  return undefined;
}

async function engineFunction(name: string, ...alternatives: string[]): Promise<AnyFn> {
  for (const n of [name, ...alternatives]) {
    const fn = await engineExport(n);
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
  const mods = await loadEngine().catch(() => [] as Record<string, unknown>[]);
  const has = (...names: string[]) => names.some((n) => mods.some((m) => m[n] !== undefined));
  return {
    scanDataset: has('scanDataset'),
    inspectBackbone: has('inspectBackbone', 'loadBackbone'),
    listMethods: has('listMethods', 'METHODS'),
    trainRun: has('trainRun'),
    evaluateRun: has('evaluateRun', 'trainRun'),
    exportRun: has('exportRun'),
    predictWithModel: has('predictWithModel', 'predictFiles'),
  };
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

function normaliseEvaluation(raw: any, classes: string[], root: string | null): EvaluationReport {
  const names: string[] = Array.isArray(raw?.classes) ? raw.classes : classes;
  const abs = (f: string) => (root && !isAbsolute(f) ? join(root, f) : f);
  const label = (v: unknown) => (typeof v === 'number' ? (names[v] ?? String(v)) : String(v));
  return {
    split: String(raw?.split ?? 'test'),
    accuracy: num(raw?.accuracy),
    balancedAccuracy: num(raw?.balancedAccuracy),
    classes: names,
    perClass: (raw?.perClass ?? []).map((c: any, i: number) => ({ name: String(c?.name ?? names[i]), precision: num(c?.precision), recall: num(c?.recall), f1: num(c?.f1), support: num(c?.support) })),
    confusion: Array.isArray(raw?.confusion) ? raw.confusion : [],
    misclassified: (raw?.misclassified ?? []).map((m: any) => ({
      file: abs(String(m?.file)),
      trueClass: label(m?.trueClass ?? m?.label),
      predictedClass: label(m?.predictedClass ?? m?.predicted),
      confidence: num(m?.confidence),
    })),
    calibration: (raw?.calibration ?? []).map((b: any) => ({ lower: num(b?.lower), upper: num(b?.upper), confidence: num(b?.confidence), accuracy: num(b?.accuracy), count: num(b?.count) })),
    ece: typeof raw?.ece === 'number' ? raw.ece : undefined,
  };
}

async function readJsonFile(file: string): Promise<any> {
  return JSON.parse(await readFile(file, 'utf8'));
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
    const inspect = await engineExport('inspectBackbone');
    if (typeof inspect === 'function') {
      const r = await (inspect as AnyFn)(modelPath);
      return {
        modelPath,
        ok: r?.ok ?? (!r?.unsupportedOps?.length && !!r?.featureTensor),
        featureTensor: r?.featureTensor?.name ?? r?.featureTensor?.source ?? r?.featureTensor ?? null,
        featureDim: r?.featureDim ?? r?.featureTensor?.dim ?? null,
        unsupportedOps: r?.unsupportedOps ?? [],
        inputSize: r?.inputSize ?? r?.preprocessing?.size ?? null,
        preprocessing: r?.preprocessing ?? null,
        parameterCount: num(r?.parameterCount),
        notes: r?.notes ?? r?.warnings ?? [],
      };
    }
    // until the façade's inspectBackbone lands: the loader the trainer itself uses (same feature search, same preprocessing)
    const load = await engineFunction('loadBackbone');
    const b = await load(modelPath);
    return {
      modelPath,
      ok: true,
      featureTensor: b.features?.source ?? null,
      featureDim: b.featureDim ?? null,
      unsupportedOps: [],
      inputSize: b.inputSize ?? null,
      preprocessing: b.preprocessing ?? null,
      parameterCount: num(b.parameterCount),
      notes: [b.features?.description, 'Operation support for training is verified when training starts.'].filter(Boolean),
    };
  },

  async listMethods(ctx): Promise<MethodListing> {
    const list = await engineExport('listMethods');
    if (typeof list === 'function') return (await (list as AnyFn)(ctx)) as MethodListing;
    const registry = await engineExport('METHODS');
    if (!Array.isArray(registry)) await engineFunction('listMethods'); // throws "not available yet"
    const recommend = await engineExport('recommendMethod');
    const rec = typeof recommend === 'function' && ctx.trainCount ? (recommend as AnyFn)(ctx.trainCount, {}) : null;
    return methodListingFromRegistry(registry as any[], rec);
  },

  async trainRun(request: TrainRequest, opts): Promise<TrainResult> {
    const fn = await engineFunction('trainRun');
    const { split } = request;
    const r = await fn(
      {
        data: request.dataPath,
        labels: request.csvPath,
        model: request.modelPath,
        method: request.method,
        methodOptions: request.options ?? {},
        epochs: request.epochs,
        batch: request.batchSize,
        lr: request.learningRate,
        seed: request.seed,
        provider: request.provider,
        ratios: [1 - split.valFraction - split.testFraction, split.valFraction, split.testFraction],
        splitFile: request.splitFile,
        // the trainer resumes a run when its folder already holds one
        outDir: request.resumeFrom ?? request.outDir,
      },
      { signal: opts.signal, onEvent: opts.onEvent, scanCacheDir: request.scanCacheDir },
    );
    return {
      runDir: r?.runDir ?? request.outDir,
      status: r?.status === 'cancelled' ? 'cancelled' : 'done',
      bestEpoch: r?.bestEpoch,
      bestValAccuracy: r?.bestValAccuracy,
      testAccuracy: r?.testAccuracy ?? r?.test?.accuracy,
      provider: r?.provider,
    };
  },

  async evaluateRun(runDir): Promise<EvaluationReport> {
    const spec = await readJsonFile(join(runDir, 'run.json')).catch(() => null);
    const classes: string[] = spec?.classes ?? [];
    const root: string | null = spec?.data?.root ?? null;
    const fn = await engineExport('evaluateRun');
    if (typeof fn === 'function') return normaliseEvaluation(await (fn as AnyFn)(runDir), classes, root);
    // the trainer writes the final evaluation (best weights, held-out test split) into the run folder
    const saved = await readJsonFile(join(runDir, 'evaluation.json')).catch(() => null);
    if (!saved) await engineFunction('evaluateRun'); // throws "not available yet"
    const report = saved.test ?? saved.val;
    if (!report) throw new UserError('no-evaluation', 'This run has no evaluation yet.', 'Finish or resume the training; the evaluation is written when it completes.');
    return normaliseEvaluation(report, saved.classes ?? classes, root);
  },

  async exportRun(runDir, outDir, opts): Promise<ExportResult> {
    const fn = await engineFunction('exportRun');
    const r = await fn(runDir, outDir, { onEvent: opts.onEvent, signal: opts.signal });
    const files = r?.files ?? [r?.modelPath, r?.labelsPath, r?.cardPath, ...(r?.extraFiles ?? [])].filter((f: unknown) => typeof f === 'string');
    return {
      outDir: r?.outDir ?? outDir,
      files,
      verification: typeof r?.maxAbsDiff === 'number' ? { maxAbsDiff: r.maxAbsDiff, images: num(r?.verifiedImages) } : undefined,
    };
  },

  async predictWithModel(modelPath, files): Promise<Prediction[]> {
    const fn = await engineFunction('predictWithModel', 'predictFiles');
    const r = await fn(modelPath, files, { topK: 50 });
    return (Array.isArray(r) ? r : r?.predictions ?? []).map((p: any, i: number) => {
      const probs = p?.probabilities ?? p?.top ?? [];
      return {
        file: String(p?.file ?? files[i]),
        label: String(p?.label ?? p?.predicted ?? ''),
        confidence: num(p?.confidence ?? p?.probability),
        probabilities: Array.isArray(probs)
          ? probs.map((q: any) => ({ label: String(q?.label), p: num(q?.p ?? q?.probability) }))
          : Object.entries(probs).map(([label, v]) => ({ label, p: num(v) })),
      };
    });
  },
};

function methodListingFromRegistry(methods: any[], rec: any): MethodListing {
  const recName: string | null = typeof rec?.method === 'string' && methods.some((m) => m.name === rec.method) ? rec.method : null;
  const numeric = (o: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
  return {
    device: 'unknown',
    methods: methods.map((m) => {
      const options: Record<string, number> = {};
      for (const o of m.options ?? []) if (typeof o?.default === 'number') options[o.name] = o.default;
      const isRec = m.name === recName;
      const d = { ...m.defaults, ...(isRec ? rec.hyper : {}) };
      return {
        name: String(m.name),
        title: String(m.title ?? m.name),
        summary: String(m.summary ?? ''),
        trainableShare: null,
        secondsPerEpoch: null,
        recommended: isRec,
        why: isRec ? String(rec.reason) : rec?.alternative?.method === m.name ? String(rec.alternative.reason) : undefined,
        defaults: { epochs: num(d?.epochs, 10), batchSize: num(d?.batch, 32), learningRate: num(d?.lr, 1e-3), ...options, ...(isRec ? numeric(rec.options) : {}) },
      };
    }),
    recommendation: recName ? { name: recName, why: String(rec.reason), alternative: rec.alternative ? { name: String(rec.alternative.method), why: String(rec.alternative.reason) } : undefined } : null,
  };
}
