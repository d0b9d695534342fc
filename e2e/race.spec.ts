/**
 * "Find the best method for my data" through the real handlers and engine worker:
 * the race job, then the recommendation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RaceSummary } from '../main/jobs/engine-contract';
import type { AppEvent } from '../main/ipc/types';
import { call, projectWithTinyModel, until } from './handler-harness';

describe('Method race (Compare: "Find the best method for my data")', () => {
  it(
    'runs as a job in the engine worker and its winner becomes the recommendation, with its interval',
    { timeout: 300_000 },
    async () => {
      const { ctx, events, project: p } = await projectWithTinyModel('Race', 10);
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
