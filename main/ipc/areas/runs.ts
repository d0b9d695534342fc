/** Training runs: list, start, resume, cancel, evaluate. The lifecycle itself is in main/runs/training.ts. */
import { join } from 'node:path';
import { grantProject, workspaceOf, type HandlerContext, type Handlers } from '../handler-context';
import { AttuneError, toUserError } from '../errors';
import { runSummary } from '../../workspace/workspace';
import { newRun, startTraining } from '../../runs/training';
import { readJson, writeJsonAtomic } from '../../workspace/atomic';
import type { RunRecord, RunSummary } from '../types';
import type { EngineEvent, EvaluationReport, KFoldRequest, KFoldSummary } from '../../jobs/engine-contract';

/** a finished run of the project, with its run folder and data granted (evaluation, explanations, thresholds) */
async function doneRun(ctx: HandlerContext, projectId: string, runId: string): Promise<RunRecord> {
  const ws = await workspaceOf(ctx);
  const p = grantProject(ctx, await ws.getProject(projectId));
  const record = await ws.getRun(p.id, runId);
  if (record.status !== 'done')
    throw new AttuneError(
      'run-not-done',
      'This run has not finished, so it cannot be evaluated yet.',
      'Wait for training to finish, or resume the run.',
    );
  ctx.allow.allow(record.runDir);
  ctx.allow.check(record.request.dataPath);
  return record;
}

const kfoldFile = (runFolder: string) => join(runFolder, 'attune-kfold.json');

export const runHandlers = {
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
    const record = await newRun(ctx, ws, p);
    await ws.saveRun(record);
    startTraining(ctx, ws, record);
    ctx.emit({ type: 'runs-changed', projectId: p.id });
    return { jobId: record.id, runId: record.id };
  },
  async 'runs:resume'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const record = await ws.getRun(req.projectId, req.runId);
    if (ctx.live.has(record.id)) return { jobId: record.id, runId: record.id };
    if (record.status !== 'interrupted' && record.status !== 'cancelled' && record.status !== 'failed') {
      throw new AttuneError(
        'not-resumable',
        'Only interrupted, cancelled or failed runs can be resumed.',
        'Start a new run from the Method screen instead.',
      );
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
    const record = await doneRun(ctx, req.projectId, req.runId);
    const cacheFile = join(ws.runDir(req.projectId, record.id), 'attune-eval.json');
    const cached = await readJson<EvaluationReport>(cacheFile).catch(() => null);
    if (cached) return cached;
    const report = await ctx.jobs.call('evaluateRun', [record.runDir], { dedicated: true });
    await writeJsonAtomic(cacheFile, report);
    return report;
  },
  async 'runs:kfold'(req, ctx) {
    // k-fold cross-validation of the run's recipe, in the worker; the folder is kept, so starting it again resumes
    const ws = await workspaceOf(ctx);
    const record = await doneRun(ctx, req.projectId, req.runId);
    const folds = req.folds ?? 5;
    const kfoldDir = join(ws.runDir(req.projectId, record.id), `kfold-${folds}`);
    const jobId = `kfold-${record.id}-${folds}`;
    if (ctx.live.has(jobId)) return { jobId, kfoldDir };
    const controller = new AbortController();
    ctx.live.set(jobId, controller);
    const request: KFoldRequest = { runDir: record.runDir, folds, outDir: kfoldDir };
    const onEvent = (event: EngineEvent) => ctx.emit({ type: 'job-event', jobId, event });
    ctx.jobs
      .call('kfoldEvaluate', [request], { dedicated: true, signal: controller.signal, onEvent })
      .then(async (value) => {
        // the result beside the run's evaluation, for the Evaluate screen to show again later
        await writeJsonAtomic(kfoldFile(ws.runDir(req.projectId, record.id)), value);
        ctx.emit({ type: 'job-finished', jobId, ok: true, cancelled: false, value });
      })
      .catch((e: unknown) => {
        const cancelled = controller.signal.aborted;
        ctx.emit({ type: 'job-finished', jobId, ok: false, cancelled, error: cancelled ? undefined : toUserError(e) });
      })
      .finally(() => ctx.live.delete(jobId));
    return { jobId, kfoldDir };
  },
  async 'runs:kfoldResult'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const record = await ws.getRun(req.projectId, req.runId);
    return readJson<KFoldSummary>(kfoldFile(ws.runDir(req.projectId, record.id)));
  },
  async 'runs:explain'(req, ctx) {
    const record = await doneRun(ctx, req.projectId, req.runId);
    const files = req.files.map((f) => ctx.allow.check(f));
    return ctx.jobs.call('explainImages', [{ runDir: record.runDir }, files], { dedicated: true });
  },
  async 'runs:operatingPoint'(req, ctx) {
    const record = await doneRun(ctx, req.projectId, req.runId);
    const op = req.operatingPoint;
    return ctx.jobs.call('operatingPointForRun', [record.runDir, op.positiveClass, op.metric, op.atLeast]);
  },

  async 'jobs:cancel'(req, ctx) {
    const c = ctx.live.get(req.jobId);
    c?.abort();
    return { cancelled: !!c };
  },
} satisfies Partial<Handlers>;
