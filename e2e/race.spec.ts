/** "Find the best method for my data" through the real handlers and engine worker: the race job, then the recommendation. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent } from '../main/ipc/types';
import type { HandlerContext } from '../main/ipc/handlers';
import type { Channel, Request, Response } from '../main/ipc/contract';
import type { RaceSummary } from '../main/jobs/engine-contract';
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

describe('Method race (Compare: "Find the best method for my data")', () => {
  it(
    'runs as a job in the engine worker and its winner becomes the recommendation, with its interval',
    { timeout: 300_000 },
    async () => {
      const data = await mkdtemp(join(tmpdir(), 'attune-race-data-'));
      for (const c of ['Beach', 'Forest', 'Parking']) {
        await mkdir(join(data, c));
        for (const f of (await readdir(join(shared, 'datasets/aid-satellite-subset', c))).sort().slice(0, 10))
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
      const p = await call(ctx, 'projects:create', { name: 'Race' });
      await call(ctx, 'data:chooseFolder', { projectId: p.id });
      await call(ctx, 'data:scan', { projectId: p.id });
      const dl = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
      await until(
        () => events.some((e) => e.type === 'job-finished' && e.jobId === dl.jobId),
        30_000,
        'the model copy',
      );
      await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-vit-random' });
      // bad requests are refused by the schema before any job starts
      await assert.rejects(call(ctx, 'methods:race', { projectId: p.id, methods: ['linear'] }));
      const { jobId, raceDir } = await call(ctx, 'methods:race', {
        projectId: p.id,
        methods: ['linear', 'bitfit', 'lora'],
        epochs: 3,
      });
      const finished = () =>
        events.find((e) => e.type === 'job-finished' && e.jobId === jobId) as
          Extract<AppEvent, { type: 'job-finished' }> | undefined;
      await until(() => !!finished(), 240_000, 'the race');
      assert.ok(finished()!.ok, JSON.stringify(finished()!.error));
      assert.ok(events.some((e) => e.type === 'job-event' && e.jobId === jobId && e.event.type === 'progress'));
      const race = finished()!.value as RaceSummary;
      assert.equal(race.dir, raceDir);
      assert.equal(race.rungs[0].candidates.length, 3);
      assert.ok(race.winnerMethod && race.testAccuracy?.ci95);
      const listing = await call(ctx, 'methods:list', { projectId: p.id });
      assert.equal(listing.recommendation?.name, race.winnerMethod);
      assert.match(listing.recommendation!.why, /method race on your data.*95 % interval/);
      ctx.jobs.dispose();
    },
  );
});
