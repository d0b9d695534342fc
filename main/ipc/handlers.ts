/**
 * IPC handlers: plain async functions (request, ctx) → response, independent of the transport.
 * Electron serves them over ipcMain (main/index.ts); the e2e bridge serves the same functions over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { stat } from 'node:fs/promises';
import type { Channel, ParsedRequest, Response } from './contract';
import { UserError, toUserError } from './errors';
import type { AllowList } from '../security/allow-list';
import type { JobHost } from '../jobs/job-host';
import type { SettingsStore } from '../settings';
import { Workspace, runSummary } from '../workspace/workspace';
import { ModelCache, loadCatalogue } from '../catalogue/catalogue';
import type { AppEvent, Project, RunRecord, RunSummary } from './types';
import type { EngineEvent, EvaluationReport, ExportResult, MethodListing, ScanReport, TrainRequest, TrainResult } from '../jobs/engine-contract';
import { readJson, writeJsonAtomic } from '../workspace/atomic';

export interface Dialogs {
  chooseFolder(opts: { title: string; buttonLabel?: string }): Promise<string | null>;
  chooseFile(opts: { title: string; filters: { name: string; extensions: string[] }[] }): Promise<string | null>;
}

export interface HandlerContext {
  settings: SettingsStore;
  allow: AllowList;
  jobs: JobHost;
  dialogs: Dialogs;
  emit(e: AppEvent): void;
  reveal?(path: string): void;
  version: string;
  platform: string;
  transport: 'electron' | 'e2e-bridge';
  /** running jobs by id (training runs use the run id) */
  live: Map<string, AbortController>;
  interruptedRuns: number;
}

export type Handlers = { [C in Channel]: (req: ParsedRequest<C>, ctx: HandlerContext) => Promise<Response<C>> };

async function workspaceOf(ctx: HandlerContext): Promise<Workspace> {
  const ws = new Workspace((await ctx.settings.get()).workspace);
  await ws.init();
  ctx.allow.allow(ws.root);
  return ws;
}

/** A project's chosen data and model were chosen by the user earlier: re-grant them when the project is opened. */
function grantProject(ctx: HandlerContext, p: Project): Project {
  if (p.data) {
    ctx.allow.allow(p.data.path);
    if (p.data.csvPath) ctx.allow.allow(p.data.csvPath);
  }
  if (p.model) ctx.allow.allow(p.model.path);
  return p;
}

function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${t}-${randomBytes(3).toString('hex')}`;
}

function need<T>(v: T | null | undefined, message: string, hint: string): T {
  if (v === null || v === undefined) throw new UserError('incomplete', message, hint);
  return v;
}

async function setData(ctx: HandlerContext, projectId: string, data: Project['data']): Promise<Project> {
  const ws = await workspaceOf(ctx);
  const p = await ws.getProject(projectId);
  p.data = data;
  p.splitFrom = null;
  p.scan = null;
  p.scannedAt = null;
  return ws.saveProject(p);
}

async function catalogue(ctx: HandlerContext) {
  const s = await ctx.settings.get();
  const ws = await workspaceOf(ctx);
  const cache = new ModelCache(ws.modelCacheDir);
  ctx.allow.allow(cache.dir);
  return { entries: await loadCatalogue(s.catalogueSource), cache };
}

/** Runs a job that the user can cancel with jobs:cancel {jobId}; a cancel becomes a 'cancelled' error. */
async function cancellable<T>(ctx: HandlerContext, jobId: string, message: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  ctx.live.get(jobId)?.abort();
  const controller = new AbortController();
  ctx.live.set(jobId, controller);
  try {
    return await run(controller.signal);
  } catch (e) {
    if (controller.signal.aborted) throw new UserError('cancelled', message, 'Start it again when you are ready.');
    throw e;
  } finally {
    if (ctx.live.get(jobId) === controller) ctx.live.delete(jobId);
  }
}

function startTraining(ctx: HandlerContext, ws: Workspace, record: RunRecord): void {
  const controller = new AbortController();
  ctx.live.set(record.id, controller);
  let saving = Promise.resolve();
  const save = () => (saving = saving.then(() => ws.saveRun(record)).catch(() => undefined));
  const onEvent = (event: EngineEvent) => {
    if (event.type === 'provider') {
      record.provider = event.provider;
      record.providerNote = event.fallbackReason ? `Requested ${event.requested}; using ${event.provider} because ${event.fallbackReason}` : null;
      save();
    } else if (event.type === 'epoch') {
      record.epochs = record.epochs.filter((e) => e.epoch !== event.epoch).concat(event);
      record.bestValAccuracy = Math.max(record.bestValAccuracy ?? 0, event.valAccuracy);
      save();
    } else if (event.type === 'step') {
      record.steps.push({ epoch: event.epoch, step: event.step, loss: event.loss });
      if (record.steps.length > 4000) record.steps = record.steps.filter((_, i) => i % 2 === 0);
    }
    ctx.emit({ type: 'job-event', jobId: record.id, runId: record.id, event });
  };
  ctx.jobs
    .call<TrainResult>('trainRun', [record.request], { dedicated: true, signal: controller.signal, onEvent })
    .then(async (result) => {
      const cancelled = result?.status === 'cancelled';
      record.status = cancelled ? 'cancelled' : 'done';
      record.provider = result?.provider ?? record.provider;
      record.runDir = result?.runDir ?? record.runDir;
      record.bestValAccuracy = result?.bestValAccuracy ?? record.bestValAccuracy;
      record.testAccuracy = result?.testAccuracy ?? record.testAccuracy;
      record.finishedAt = new Date().toISOString();
      await saving;
      await ws.saveRun(record);
      ctx.emit({ type: 'job-finished', jobId: record.id, runId: record.id, ok: !cancelled, cancelled, value: result });
    })
    .catch(async (e) => {
      const err = toUserError(e);
      const cancelled = controller.signal.aborted || err.code === 'cancelled';
      record.status = cancelled ? 'cancelled' : 'failed';
      record.error = cancelled ? null : err;
      record.finishedAt = new Date().toISOString();
      await saving;
      await ws.saveRun(record);
      ctx.emit({ type: 'job-finished', jobId: record.id, runId: record.id, ok: false, cancelled, error: cancelled ? undefined : err });
    })
    .finally(() => {
      ctx.live.delete(record.id);
      ctx.emit({ type: 'runs-changed', projectId: record.projectId });
    });
}

export const handlers: Handlers = {
  async 'app:info'(_req, ctx) {
    const s = await ctx.settings.get();
    const engine = await ctx.jobs.call<Record<string, boolean>>('capabilities', []).catch(() => ({}));
    return { version: ctx.version, platform: ctx.platform, workspace: s.workspace, catalogueSource: s.catalogueSource, engine, interruptedRuns: ctx.interruptedRuns, transport: ctx.transport };
  },

  async 'settings:get'(_req, ctx) {
    return ctx.settings.get();
  },
  async 'settings:update'(req, ctx) {
    if (req.catalogueSource) ctx.allow.check(req.catalogueSource.startsWith('http') ? '/' : req.catalogueSource);
    return ctx.settings.update(req);
  },
  async 'settings:chooseWorkspace'(_req, ctx) {
    const dir = await ctx.dialogs.chooseFolder({ title: 'Choose the workspace folder for projects and runs', buttonLabel: 'Use this folder' });
    if (!dir) return null;
    ctx.allow.allow(dir);
    return ctx.settings.update({ workspace: dir });
  },
  async 'settings:chooseCatalogue'(_req, ctx) {
    const dir = await ctx.dialogs.chooseFolder({ title: 'Choose a folder of ONNX models (or with a catalogue.json)', buttonLabel: 'Use as catalogue' });
    if (!dir) return null;
    ctx.allow.allow(dir);
    return ctx.settings.update({ catalogueSource: dir });
  },

  async 'projects:list'(_req, ctx) {
    return (await workspaceOf(ctx)).listProjects();
  },
  async 'projects:create'(req, ctx) {
    return (await workspaceOf(ctx)).createProject(req.name);
  },
  async 'projects:get'(req, ctx) {
    return grantProject(ctx, await (await workspaceOf(ctx)).getProject(req.id));
  },
  async 'projects:update'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.id);
    if (req.name !== undefined) p.name = req.name;
    if (req.split && JSON.stringify(req.split) !== JSON.stringify(p.split)) {
      p.split = req.split;
      p.splitFrom = null; // a new split: later runs no longer share the old one
    }
    if (req.method) p.method = req.method;
    if (req.window !== undefined && p.data) p.data = { ...p.data, window: req.window || undefined };
    if (req.bands !== undefined && p.data) p.data = { ...p.data, bands: req.bands || undefined };
    return ws.saveProject(p);
  },
  async 'projects:delete'(req, ctx) {
    await (await workspaceOf(ctx)).deleteProject(req.id);
    return { deleted: true };
  },

  async 'data:chooseFolder'(req, ctx) {
    const dir = await ctx.dialogs.chooseFolder({ title: 'Choose the folder with your labelled images', buttonLabel: 'Use this folder' });
    if (!dir) return null;
    return setData(ctx, req.projectId, { kind: 'folder', path: ctx.allow.allow(dir) });
  },
  async 'data:chooseCsv'(req, ctx) {
    const file = await ctx.dialogs.chooseFile({ title: 'Choose a CSV of image paths and labels', filters: [{ name: 'CSV', extensions: ['csv'] }] });
    if (!file) return null;
    ctx.allow.allow(file);
    const root = ctx.allow.allow(dirname(file));
    return setData(ctx, req.projectId, { kind: 'csv', path: root, csvPath: file });
  },
  async 'data:useDropped'(req, ctx) {
    const path = ctx.allow.check(req.path);
    const st = await stat(path);
    if (st.isDirectory()) return setData(ctx, req.projectId, { kind: 'folder', path });
    if (path.toLowerCase().endsWith('.csv')) return setData(ctx, req.projectId, { kind: 'csv', path: ctx.allow.allow(dirname(path)), csvPath: path });
    throw new UserError('not-a-dataset', 'That is a single file, not a dataset.', 'Drop the folder that holds one subfolder per class, or a CSV file listing images and labels.');
  },
  async 'data:scan'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const data = need(p.data, 'No data chosen yet.', 'Choose a folder of labelled images or a labels CSV first.');
    const jobId = `scan-${p.id}`;
    const report = await cancellable(ctx, jobId, 'The scan was cancelled.', (signal) =>
      ctx.jobs.call<ScanReport>('scanDataset', [ctx.allow.check(data.path), { csvPath: data.csvPath, cacheDir: join(ws.root, 'scan-cache') }], {
        dedicated: true,
        signal,
        cancelGraceMs: 500,
        onEvent: (event) => ctx.emit({ type: 'job-event', jobId, event }),
      }),
    );
    p.scan = report;
    p.scannedAt = new Date().toISOString();
    await ws.saveProject(p);
    return report;
  },
  async 'data:thumbnails'(req, ctx) {
    const files = req.files.map((f) => ctx.allow.check(f));
    return ctx.jobs.call('thumbnails', [files, undefined, { ...(req.window ? { window: req.window } : {}), ...(req.bands ? { bands: req.bands } : {}) }]);
  },

  async 'models:catalogue'(_req, ctx) {
    const { entries, cache } = await catalogue(ctx);
    return Promise.all(entries.map((e) => cache.view(e)));
  },
  async 'models:download'(req, ctx) {
    const { entries, cache } = await catalogue(ctx);
    const entry = need(entries.find((e) => e.id === req.entryId), 'That model is not in the catalogue.', 'Reload the Model screen; the catalogue source may have changed.');
    const jobId = `download-${entry.id}`;
    if (ctx.live.has(jobId)) return { jobId };
    const controller = new AbortController();
    ctx.live.set(jobId, controller);
    cache
      .fetch(entry, {
        signal: controller.signal,
        onProgress: (received, total, phase) => ctx.emit({ type: 'download', jobId, entryId: entry.id, received, total, phase }),
      })
      .then((path) => {
        ctx.emit({ type: 'download', jobId, entryId: entry.id, received: entry.sizeBytes ?? 0, total: entry.sizeBytes, phase: 'done' });
        ctx.emit({ type: 'job-finished', jobId, ok: true, cancelled: false, value: path });
      })
      .catch((e) => {
        const cancelled = controller.signal.aborted;
        ctx.emit({ type: 'job-finished', jobId, ok: false, cancelled, error: cancelled ? undefined : toUserError(e) });
      })
      .finally(() => ctx.live.delete(jobId));
    return { jobId };
  },
  async 'models:useCatalogue'(req, ctx) {
    const { entries, cache } = await catalogue(ctx);
    const entry = need(entries.find((e) => e.id === req.entryId), 'That model is not in the catalogue.', 'Reload the Model screen.');
    const path = cache.pathFor(entry);
    if (!(await stat(path).catch(() => null))) throw new UserError('not-downloaded', `${entry.name} has not been downloaded yet.`, 'Click "Download" on its card first.');
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.projectId);
    p.model = { source: 'catalogue', catalogueId: entry.id, path, name: entry.name };
    return ws.saveProject(p);
  },
  async 'models:openFile'(req, ctx) {
    const file = await ctx.dialogs.chooseFile({ title: 'Open an ONNX backbone', filters: [{ name: 'ONNX model', extensions: ['onnx'] }] });
    if (!file) return null;
    // external data files sit beside the .onnx: allow its folder
    ctx.allow.allow(dirname(file));
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.projectId);
    p.model = { source: 'file', path: ctx.allow.allow(file), name: file.split(/[\\/]/).pop() ?? file };
    return ws.saveProject(p);
  },
  async 'models:inspect'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const model = need(p.model, 'No backbone chosen yet.', 'Pick a model from the catalogue or open an ONNX file.');
    const info = await cancellable(ctx, `inspect-${p.id}`, 'The model check was cancelled.', (signal) =>
      ctx.jobs.call<NonNullable<typeof model.info>>('inspectBackbone', [ctx.allow.check(model.path)], { dedicated: true, signal, cancelGraceMs: 500 }),
    );
    p.model = { ...model, info };
    await ws.saveProject(p);
    return info;
  },

  async 'methods:list'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.projectId);
    const trainCount = p.scan ? Math.round(p.scan.total * (1 - p.split.valFraction - p.split.testFraction)) : null;
    return ctx.jobs.call<MethodListing>('listMethods', [{ modelPath: p.model?.path, trainCount: trainCount ?? undefined }]);
  },

  async 'runs:recent'(_req, ctx) {
    const ws = await workspaceOf(ctx);
    const out: RunSummary[] = [];
    for (const p of await ws.listProjects()) for (const r of await ws.listRuns(p.id)) out.push(runSummary(r, p.name));
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 12);
  },
  async 'runs:list'(req, ctx) {
    const ws = await workspaceOf(ctx);
    return (await ws.listRuns(req.projectId)).map((r) => runSummary(r));
  },
  async 'runs:get'(req, ctx) {
    return (await workspaceOf(ctx)).getRun(req.projectId, req.runId);
  },
  async 'runs:start'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const data = need(p.data, 'No data chosen yet.', 'Go to Data and choose a folder of labelled images.');
    const model = need(p.model, 'No backbone chosen yet.', 'Go to Model and pick a backbone.');
    const method = need(p.method, 'No method chosen yet.', 'Go to Method and pick a method.');
    const s = await ctx.settings.get();
    const runId = newRunId();
    const runDir = ws.runDir(p.id, runId);
    const request: TrainRequest = {
      dataPath: ctx.allow.check(data.path),
      csvPath: data.csvPath ? ctx.allow.check(data.csvPath) : undefined,
      modelPath: ctx.allow.check(model.path),
      method: method.name,
      epochs: method.epochs,
      batchSize: method.batchSize,
      learningRate: method.learningRate,
      seed: method.seed,
      outDir: runDir,
      provider: s.provider,
      split: p.split,
      options: method.options,
      scanCacheDir: join(ws.root, 'scan-cache'),
      ...(data.window ? { window: data.window } : {}),
      ...(data.bands ? { bands: data.bands } : {}),
    };
    // every run of a project uses the split saved by its first run, so runs compare fairly
    if (p.splitFrom && (await stat(p.splitFrom).catch(() => null))) request.splitFile = p.splitFrom;
    else {
      p.splitFrom = join(runDir, 'split.json');
      await ws.saveProject(p);
    }
    const record: RunRecord = {
      id: runId,
      projectId: p.id,
      createdAt: new Date().toISOString(),
      finishedAt: null,
      status: 'running',
      request,
      runDir,
      modelName: model.name,
      provider: null,
      providerNote: null,
      epochs: [],
      steps: [],
      bestValAccuracy: null,
      testAccuracy: null,
      error: null,
      exports: [],
    };
    await ws.saveRun(record);
    startTraining(ctx, ws, record);
    ctx.emit({ type: 'runs-changed', projectId: p.id });
    return { jobId: runId, runId };
  },
  async 'runs:resume'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const record = await ws.getRun(req.projectId, req.runId);
    if (ctx.live.has(record.id)) return { jobId: record.id, runId: record.id };
    if (record.status !== 'interrupted' && record.status !== 'cancelled' && record.status !== 'failed') {
      throw new UserError('not-resumable', 'Only interrupted, cancelled or failed runs can be resumed.', 'Start a new run from the Method screen instead.');
    }
    ctx.allow.check(record.request.dataPath);
    record.request = { ...record.request, resumeFrom: record.runDir };
    record.status = 'running';
    record.error = null;
    record.finishedAt = null;
    await ws.saveRun(record);
    startTraining(ctx, ws, record);
    return { jobId: record.id, runId: record.id };
  },
  async 'runs:evaluate'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const record = await ws.getRun(p.id, req.runId);
    if (record.status !== 'done') throw new UserError('run-not-done', 'This run has not finished, so it cannot be evaluated yet.', 'Wait for training to finish, or resume the run.');
    ctx.allow.allow(record.runDir);
    ctx.allow.check(record.request.dataPath);
    const cacheFile = join(ws.runDir(p.id, record.id), 'attune-eval.json');
    const cached = await readJson<EvaluationReport>(cacheFile).catch(() => null);
    if (cached) return cached;
    const report = await ctx.jobs.call<EvaluationReport>('evaluateRun', [record.runDir], { dedicated: true });
    await writeJsonAtomic(cacheFile, report);
    return report;
  },

  async 'jobs:cancel'(req, ctx) {
    const c = ctx.live.get(req.jobId);
    c?.abort();
    return { cancelled: !!c };
  },

  async 'export:chooseFolder'(_req, ctx) {
    const dir = await ctx.dialogs.chooseFolder({ title: 'Choose where to write the exported model', buttonLabel: 'Export here' });
    return dir ? ctx.allow.allow(dir) : null;
  },
  async 'export:run'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const record = await ws.getRun(req.projectId, req.runId);
    const outDir = ctx.allow.check(req.outDir);
    const jobId = `export-${record.id}`;
    const result = await cancellable(ctx, jobId, 'The export was cancelled.', (signal) =>
      ctx.jobs.call<ExportResult>('exportRun', [record.runDir, outDir], {
        dedicated: true,
        signal,
        cancelGraceMs: 2000,
        onEvent: (event) => ctx.emit({ type: 'job-event', jobId, runId: record.id, event }),
      }),
    );
    record.exports = [...new Set([...record.exports, result.outDir])];
    await ws.saveRun(record);
    ctx.allow.allow(result.outDir);
    return result;
  },
  async 'export:chooseImage'(_req, ctx) {
    const file = await ctx.dialogs.chooseFile({ title: 'Choose an image to try the exported model on', filters: [
      { name: 'Images (photos, 16-bit, DICOM, GeoTIFF)', extensions: ['png', 'jpg', 'jpeg', 'tif', 'tiff', 'webp', 'dcm', 'dicom'] },
      // PACS exports often have no extension: DICOM is recognised by content
      { name: 'All files', extensions: ['*'] },
    ] });
    return file ? ctx.allow.allow(file) : null;
  },
  async 'export:try'(req, ctx) {
    const modelPath = ctx.allow.check(req.modelPath);
    const file = ctx.allow.check(req.file);
    const [prediction] = await ctx.jobs.call<Response<'export:try'>[]>('predictWithModel', [modelPath, [file]]);
    return need(prediction, 'The model returned no prediction for this image.', 'Check that the file is an image Attune can read (PNG, JPEG, TIFF, DICOM, GeoTIFF).');
  },

  async 'shell:reveal'(req, ctx) {
    const path = ctx.allow.check(req.path);
    if (!ctx.reveal) return { shown: false };
    ctx.reveal(path);
    return { shown: true };
  },
};
