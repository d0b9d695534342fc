/** "Estimate with k-fold cross-validation" through the real handlers and engine worker (no browser needed). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent } from '../main/ipc/types';
import type { HandlerContext } from '../main/ipc/handlers';
import type { Channel, Request, Response } from '../main/ipc/contract';
import type { KFoldSummary } from '../main/jobs/engine-contract';
import { repo, shared } from './helpers';

async function call<C extends Channel>(ctx: HandlerContext, channel: C, request: Request<C>): Promise<Response<C>> {
  const env = await dispatch(ctx, channel, request);
  if (!env.ok) throw Object.assign(new Error(env.error.message), env.error);
  return env.value as Response<C>;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('k-fold cross-validation (Evaluate: rough figures)', () => {
  it(
    'runs as a job in the engine worker, reports progress, and refuses bad fold counts',
    { timeout: 120_000 },
    async () => {
      const data = await mkdtemp(join(tmpdir(), 'attune-kfold-data-'));
      for (const c of ['Beach', 'Forest', 'Parking']) {
        await mkdir(join(data, c));
        for (const f of (await readdir(join(shared, 'datasets/aid-satellite-subset', c))).sort().slice(0, 6))
          await cp(join(shared, 'datasets/aid-satellite-subset', c, f), join(data, c, f));
      }
      const events: AppEvent[] = [];
      const ctx = await createContext({
        userData: await mkdtemp(join(tmpdir(), 'attune-main-')),
        workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
        dialogs: { chooseFolder: async () => data, chooseFile: async () => null },
        emit: (e) => events.push(e),
        version: 'test',
        platform: process.platform,
        transport: 'browser',
        catalogueOverride: join(shared, 'models'),
      });
      const p = await call(ctx, 'projects:create', { name: 'K-fold' });
      await call(ctx, 'data:chooseFolder', { projectId: p.id });
      await call(ctx, 'data:scan', { projectId: p.id });
      const dl = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
      await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === dl.jobId), 30_000, 'the model');
      await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-vit-random' });
      await call(ctx, 'projects:update', {
        id: p.id,
        method: { name: 'linear', epochs: 1, batchSize: 8, learningRate: 1e-2, seed: 0, options: {} },
      });
      const { runId } = await call(ctx, 'runs:start', { projectId: p.id });
      const runDone = () => events.find((e) => e.type === 'job-finished' && e.runId === runId);
      await until(() => !!runDone(), 60_000, 'the run');
      const report = await call(ctx, 'runs:evaluate', { projectId: p.id, runId });
      assert.equal(report.rough, true); // 18 images: the screen offers k-fold here
      assert.equal(await call(ctx, 'runs:kfoldResult', { projectId: p.id, runId }), null);
      // bad requests are refused by the schema before any job starts
      await assert.rejects(call(ctx, 'runs:kfold', { projectId: p.id, runId, folds: 1 }));
      await assert.rejects(call(ctx, 'runs:kfold', { projectId: p.id, runId, folds: 50 }));
      const { jobId, kfoldDir } = await call(ctx, 'runs:kfold', { projectId: p.id, runId, folds: 3 });
      const finished = () =>
        events.find((e) => e.type === 'job-finished' && e.jobId === jobId) as
          Extract<AppEvent, { type: 'job-finished' }> | undefined;
      await until(() => !!finished(), 90_000, 'the k-fold job');
      assert.ok(finished()!.ok, JSON.stringify(finished()!.error));
      assert.ok(events.some((e) => e.type === 'job-event' && e.jobId === jobId && e.event.type === 'progress'));
      const k = finished()!.value as KFoldSummary;
      assert.equal(k.dir, kfoldDir);
      assert.equal(k.perFold.length, 3);
      assert.equal(
        k.perFold.reduce((a, f) => a + f.testImages, 0),
        18,
      );
      assert.equal(k.accuracy.n, 3);
      assert.ok(k.accuracy.ci95);
      // kept beside the run for the Evaluate screen
      const saved = JSON.parse(await readFile(join(kfoldDir, '..', 'attune-kfold.json'), 'utf8')) as KFoldSummary;
      assert.deepEqual(saved, k);
      assert.deepEqual(await call(ctx, 'runs:kfoldResult', { projectId: p.id, runId }), k);
      ctx.jobs.dispose();
    },
  );
});
