/** Drives the app's real request handlers and engine worker without a browser (shared by the handler-level specs). */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent, Project } from '../main/ipc/types';
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
  const labels = csv ? await csv(data) : null;
  const events: AppEvent[] = [];
  const ctx = await createContext({
    userData: await mkdtemp(join(tmpdir(), 'attune-main-')),
    workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
    dialogs: { chooseFolder: async () => data, chooseFile: async () => labels },
    emit: (e) => events.push(e),
    version: 'test',
    platform: process.platform,
    transport: 'browser',
    catalogueOverride: join(shared, 'models'),
  });
  const p = await call(ctx, 'projects:create', { name });
  if (labels) await call(ctx, 'data:chooseCsv', { projectId: p.id });
  else {
    await call(ctx, 'data:chooseFolder', { projectId: p.id });
    await call(ctx, 'data:scan', { projectId: p.id });
  }
  const dl = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
  await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === dl.jobId), 30_000, 'the model copy');
  const project = await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-vit-random' });
  return { ctx, events, project };
}
