/** Backbones (catalogue, download, own ONNX file, compatibility check) and the methods that suit them. */
import { dirname } from 'node:path';
import { stat } from 'node:fs/promises';
import { cancellable, grantProject, need, workspaceOf, type HandlerContext, type Handlers } from '../handler-context';
import { AttuneError, toUserError } from '../errors';
import { ModelCache, loadCatalogue } from '../../catalogue/catalogue';
import type { EngineEvent, RaceRequest } from '../../jobs/engine-contract';
import { balanceFor } from '../../runs/balance';

async function catalogue(ctx: HandlerContext) {
  const s = await ctx.settings.get();
  const ws = await workspaceOf(ctx);
  const cache = new ModelCache(ws.modelCacheDir);
  ctx.allow.allow(cache.dir);
  return { entries: await loadCatalogue(s.catalogueSource), cache };
}

/** The memory counts' worker: kept while the user tries batches, ended after a minute without a request. */
const MEMORY_LANE = { name: 'memory', idleMs: 60_000 };

export const modelHandlers = {
  async 'models:catalogue'(_req, ctx) {
    const { entries, cache } = await catalogue(ctx);
    return Promise.all(entries.map((e) => cache.view(e)));
  },
  async 'models:download'(req, ctx) {
    const { entries, cache } = await catalogue(ctx);
    const entry = need(
      entries.find((e) => e.id === req.entryId),
      'That model is not in the catalogue.',
      'Reload the Model screen; the catalogue source may have changed.',
    );
    const jobId = `download-${entry.id}`;
    if (ctx.live.has(jobId)) return { jobId };
    const controller = new AbortController();
    ctx.live.set(jobId, controller);
    cache
      .fetch(entry, {
        signal: controller.signal,
        onProgress: (received, total, phase) =>
          ctx.emit({ type: 'download', jobId, entryId: entry.id, received, total, phase }),
      })
      .then((path) => {
        ctx.emit({
          type: 'download',
          jobId,
          entryId: entry.id,
          received: entry.sizeBytes ?? 0,
          total: entry.sizeBytes,
          phase: 'done',
        });
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
    const entry = need(
      entries.find((e) => e.id === req.entryId),
      'That model is not in the catalogue.',
      'Reload the Model screen.',
    );
    const path = cache.pathFor(entry);
    if (!(await stat(path).catch(() => null)))
      throw new AttuneError(
        'not-downloaded',
        `${entry.name} has not been downloaded yet.`,
        'Click "Download" on its card first.',
      );
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.projectId);
    p.model = { source: 'catalogue', catalogueId: entry.id, path, name: entry.name };
    return ws.saveProject(p);
  },
  async 'models:openFile'(req, ctx) {
    const file = await ctx.dialogs.chooseFile(
      { title: 'Open an ONNX backbone', filters: [{ name: 'ONNX model', extensions: ['onnx'] }] },
      req.path,
    );
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
      ctx.jobs.call('inspectBackbone', [ctx.allow.check(model.path)], { dedicated: true, signal, cancelGraceMs: 500 }),
    );
    p.model = { ...model, info };
    await ws.saveProject(p);
    return info;
  },

  async 'methods:list'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.projectId);
    const trainCount = p.scan ? Math.round(p.scan.total * (1 - p.split.valFraction - p.split.testFraction)) : null;
    return ctx.jobs.call('listMethods', [
      {
        modelPath: p.model?.path,
        trainCount: trainCount ?? undefined,
        numClasses: p.scan?.classes.length,
        raceDir: ws.raceDir(p.id),
      },
    ]);
  },
  async 'methods:memory'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const model = need(p.model, 'No backbone chosen yet.', 'Go to Model and pick a backbone.');
    const method = need(p.method, 'No method chosen yet.', 'Pick a method first.');
    // a lane of its own: the count takes seconds at ViT-Base (not to hold up thumbnails), and its worker keeps it for
    // the next batch the user tries; ended when idle, so it does not hold memory while the run trains
    return ctx.jobs.call(
      'estimateMemory',
      [
        {
          modelPath: ctx.allow.check(model.path),
          method: method.name,
          options: method.options,
          batchSize: method.batchSize,
          numClasses: p.scan?.classes.length ?? 2,
          provider: (await ctx.settings.get()).provider,
          ...(p.data?.bands && p.scan?.bands ? { bands: p.data.bands, bandCount: p.scan.bands.bands } : {}),
        },
      ],
      { lane: MEMORY_LANE },
    );
  },
  async 'methods:race'(req, ctx) {
    // "Find the best method for my data": a method race on the project's data and model, in the worker
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const data = need(p.data, 'Choose the data first.', 'Open the Data screen and choose a folder.');
    const model = need(p.model, 'Choose a model first.', 'Open the Model screen and pick a backbone.');
    const raceDir = ws.raceDir(p.id);
    const jobId = `race-${p.id}`;
    if (ctx.live.has(jobId)) return { jobId, raceDir };
    const controller = new AbortController();
    ctx.live.set(jobId, controller);
    // the race trains what a run of this project would: its value mapping, imbalance handling and corrections; a
    // race of other settings (another backbone, new corrections…) is replaced, since its winner no longer applies
    const request: RaceRequest = {
      dataPath: ctx.allow.check(data.path),
      csvPath: data.csvPath ? ctx.allow.check(data.csvPath) : undefined,
      ...(data.csvPath && data.columns ? { columns: data.columns } : {}),
      modelPath: ctx.allow.check(model.path),
      split: p.split,
      provider: (await ctx.settings.get()).provider,
      outDir: raceDir,
      methods: req.methods,
      epochs: req.epochs,
      ...(data.window ? { window: data.window } : {}),
      ...(data.bands ? { bands: data.bands } : {}),
      ...(data.frames ? { frames: data.frames } : {}),
      ...(data.valueOffset !== undefined ? { valueOffset: data.valueOffset } : {}),
      balance: balanceFor(p),
      ...(p.overrides ? { overrides: p.overrides } : {}),
      replaceDifferent: true,
    };
    const onEvent = (event: EngineEvent) => ctx.emit({ type: 'job-event', jobId, event });
    ctx.jobs
      .call('raceMethods', [request], { dedicated: true, signal: controller.signal, onEvent })
      .then((value) => ctx.emit({ type: 'job-finished', jobId, ok: true, cancelled: false, value }))
      .catch((e: unknown) => {
        const cancelled = controller.signal.aborted;
        ctx.emit({ type: 'job-finished', jobId, ok: false, cancelled, error: cancelled ? undefined : toUserError(e) });
      })
      .finally(() => ctx.live.delete(jobId));
    return { jobId, raceDir };
  },
} satisfies Partial<Handlers>;
