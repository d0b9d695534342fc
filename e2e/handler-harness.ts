/** Drives the app's real request handlers and engine worker without a browser (shared by the handler-level specs). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent, Project, RunRecord } from '../main/ipc/types';
import type { HandlerContext } from '../main/ipc/handlers';
import type { Channel, Request, Response } from '../main/ipc/contract';
import { aidFolder, repo, shared } from './helpers';

/** One request through the validating dispatcher, as either transport sends it; a refusal throws its error. */
export async function call<C extends Channel>(
  ctx: HandlerContext,
  channel: C,
  request: Request<C>,
): Promise<Response<C>> {
  const env = await dispatch(ctx, channel, request);
  if (!env.ok) throw Object.assign(new Error(env.error.message), env.error);
  return env.value as Response<C>;
}

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The handlers' context on a fresh workspace, its dialogs answering with `folder` and `file`, and its events. */
export async function appContext(
  folder: string | null,
  file: string | null = null,
): Promise<{ ctx: HandlerContext; events: AppEvent[] }> {
  const events: AppEvent[] = [];
  const ctx = await createContext({
    userData: await mkdtemp(join(tmpdir(), 'attune-main-')),
    workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
    dialogs: { chooseFolder: async () => folder, chooseFile: async () => file },
    emit: (e) => events.push(e),
    version: 'test',
    platform: process.platform,
    transport: 'browser',
    catalogueOverride: join(shared, 'models'),
  });
  return { ctx, events };
}

/** The tiny random ViT from the catalogue as the project's backbone. */
export async function useTinyModel(ctx: HandlerContext, events: AppEvent[], projectId: string): Promise<Project> {
  const dl = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
  await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === dl.jobId), 30_000, 'the model copy');
  return call(ctx, 'models:useCatalogue', { projectId, entryId: 'tiny-vit-random' });
}

/** One epoch of the linear probe through `runs:start`; the finished run's record and its run.json. */
export async function trainLinear<Spec>(
  ctx: HandlerContext,
  events: AppEvent[],
  projectId: string,
  batchSize = 8,
): Promise<{ record: RunRecord; spec: Spec }> {
  await call(ctx, 'projects:update', {
    id: projectId,
    method: { name: 'linear', epochs: 1, batchSize, learningRate: 1e-2, seed: 0, options: {} },
  });
  const { runId } = await call(ctx, 'runs:start', { projectId });
  await until(() => events.some((e) => e.type === 'job-finished' && e.runId === runId), 120_000, 'the run');
  const record = await call(ctx, 'runs:get', { projectId, runId });
  assert.equal(record.status, 'done', JSON.stringify(record.error));
  return { record, spec: JSON.parse(await readFile(join(record.runDir, 'run.json'), 'utf8')) as Spec };
}

/** A method race of the linear probe and BitFit (one epoch) through `methods:race`; its first rung's sweep spec. */
export async function raceSpec<Spec>(ctx: HandlerContext, events: AppEvent[], projectId: string): Promise<Spec> {
  const race = await call(ctx, 'methods:race', { projectId, methods: ['linear', 'bitfit'], epochs: 1 });
  const done = () =>
    events.find((e) => e.type === 'job-finished' && e.jobId === race.jobId) as
      Extract<AppEvent, { type: 'job-finished' }> | undefined;
  await until(() => !!done(), 180_000, 'the race');
  assert.ok(done()!.ok, JSON.stringify(done()!.error));
  const file = join(race.raceDir, 'rungs', 'r0', 'sweep.json');
  return (JSON.parse(await readFile(file, 'utf8')) as { spec: Spec }).spec;
}

/**
 * A project on `perClass` AID images of three classes with the tiny random ViT from the catalogue, scanned and ready:
 * the handlers' context, its events and the project. With `csv`, the images' folder is given to it and the project
 * reads its labels from the CSV file it returns (not scanned: its columns may need choosing first).
 */
export async function projectWithTinyModel(
  name: string,
  perClass: number,
  csv?: (data: string) => Promise<string>,
): Promise<{ ctx: HandlerContext; events: AppEvent[]; project: Project }> {
  const data = await aidFolder(perClass);
  const { ctx, events } = await appContext(data, csv ? await csv(data) : null);
  const p = await call(ctx, 'projects:create', { name });
  if (csv) await call(ctx, 'data:chooseCsv', { projectId: p.id });
  else {
    await call(ctx, 'data:chooseFolder', { projectId: p.id });
    await call(ctx, 'data:scan', { projectId: p.id });
  }
  return { ctx, events, project: await useTinyModel(ctx, events, p.id) };
}
