/**
 * The training-run lifecycle: build the engine request from a project, start it in its own worker,
 * keep the run record in step with the engine's events, and settle it as done / cancelled / interrupted / failed.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import type { HandlerContext } from '../ipc/handler-context';
import { need } from '../ipc/handler-context';
import { toUserError } from '../ipc/errors';
import { APP_CLOSING } from '../jobs/job-host';
import type { Workspace } from '../workspace/workspace';
import type { Project, RunRecord } from '../ipc/types';
import type { AppTrainRequest, EngineEvent } from '../jobs/engine-contract';
import { applyEngineEvent, validAccuracy } from './apply-event';
import { balanceFor } from './balance';

function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${t}-${randomBytes(3).toString('hex')}`;
}

/** A new run record for project `p` (not yet saved). Every run of a project reuses the split of its first run. */
export async function newRun(ctx: HandlerContext, ws: Workspace, p: Project): Promise<RunRecord> {
  const data = need(p.data, 'No data chosen yet.', 'Go to Data and choose a folder of labelled images.');
  const model = need(p.model, 'No backbone chosen yet.', 'Go to Model and pick a backbone.');
  const method = need(p.method, 'No method chosen yet.', 'Go to Method and pick a method.');
  const s = await ctx.settings.get();
  const id = newRunId();
  const runDir = ws.runDir(p.id, id);
  const request: AppTrainRequest = {
    dataPath: ctx.allow.check(data.path),
    csvPath: data.csvPath ? ctx.allow.check(data.csvPath) : undefined,
    ...(data.csvPath && data.columns ? { columns: data.columns } : {}),
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
    augment: method.augment,
    balance: balanceFor(p),
    overrides:
      p.overrides && (p.overrides.exclude.length || Object.keys(p.overrides.relabel).length) ? p.overrides : undefined,
    scanCacheDir: join(ws.root, 'scan-cache'),
    ...(data.window ? { window: data.window } : {}),
    ...(data.bands ? { bands: data.bands } : {}),
    ...(data.frames ? { frames: data.frames } : {}),
    ...(data.valueOffset !== undefined ? { valueOffset: data.valueOffset } : {}),
  };
  // every run of a project uses the split saved by its first run, so runs compare fairly
  if (p.splitFrom && (await stat(p.splitFrom).catch(() => null))) request.splitFile = p.splitFrom;
  else {
    p.splitFrom = join(runDir, 'split.json');
    await ws.saveProject(p);
  }
  return {
    id,
    projectId: p.id,
    createdAt: new Date().toISOString(),
    finishedAt: null,
    status: 'running',
    request,
    runDir,
    modelName: model.name,
    provider: null,
    providerNote: null,
    memoryNote: null,
    epochs: [],
    steps: [],
    bestValAccuracy: null,
    testAccuracy: null,
    error: null,
    exports: [],
  };
}

/** Starts (or resumes) `record` in a dedicated worker; returns at once, events and the end are emitted. */
export function startTraining(ctx: HandlerContext, ws: Workspace, record: RunRecord): void {
  const controller = new AbortController();
  ctx.live.set(record.id, controller);
  let saving = Promise.resolve();
  const save = () => (saving = saving.then(() => ws.saveRun(record)).catch(() => undefined));
  const onEvent = (event: EngineEvent) => {
    if (applyEngineEvent(record, event)) save();
    ctx.emit({ type: 'job-event', jobId: record.id, runId: record.id, event });
  };
  const settle = async (status: RunRecord['status']) => {
    record.status = status;
    record.finishedAt = new Date().toISOString();
    await saving;
    await ws.saveRun(record);
  };
  ctx.jobs
    .call('trainRun', [record.request], { dedicated: true, signal: controller.signal, onEvent })
    .then(async (result) => {
      const cancelled = result.status === 'cancelled';
      record.provider = result.provider ?? record.provider;
      record.runDir = result.runDir ?? record.runDir;
      record.bestValAccuracy = validAccuracy(result.bestValAccuracy) ?? validAccuracy(record.bestValAccuracy);
      record.testAccuracy = validAccuracy(result.testAccuracy) ?? record.testAccuracy;
      await settle(cancelled ? 'cancelled' : 'done');
      ctx.emit({ type: 'job-finished', jobId: record.id, runId: record.id, ok: !cancelled, cancelled, value: result });
    })
    .catch(async (e) => {
      const err = toUserError(e);
      // closing the app stops the engine: the run is intact and resumes from its last checkpoint
      if (err.code === APP_CLOSING) {
        record.error = null;
        await settle('interrupted');
        return;
      }
      const cancelled = controller.signal.aborted || err.code === 'cancelled';
      record.error = cancelled ? null : err;
      await settle(cancelled ? 'cancelled' : 'failed');
      ctx.emit({
        type: 'job-finished',
        jobId: record.id,
        runId: record.id,
        ok: false,
        cancelled,
        error: cancelled ? undefined : err,
      });
    })
    .finally(() => {
      ctx.live.delete(record.id);
      ctx.emit({ type: 'runs-changed', projectId: record.projectId });
    });
}
