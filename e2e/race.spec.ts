/**
 * "Find the best method for my data" through the real handlers and engine worker:
 * the race job, then the recommendation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

      // a correction after the race: "Find the best method" again replaces that race (its winner was found on other
      // data) and trains on the corrected data, as a run of the project would
      const data = p.data!.path;
      const first = readdirSync(join(data, 'Beach')).sort()[0];
      await call(ctx, 'projects:override', { id: p.id, file: join(data, 'Beach', first), action: 'exclude' });
      const second = await call(ctx, 'methods:race', { projectId: p.id, methods: ['linear', 'bitfit'], epochs: 1 });
      const done2 = () =>
        events.find((e) => e.type === 'job-finished' && e.jobId === second.jobId && e !== finished()) as
          Extract<AppEvent, { type: 'job-finished' }> | undefined;
      await until(() => !!done2(), 240_000, 'the second race');
      assert.ok(done2()!.ok, JSON.stringify(done2()!.error));
      assert.deepEqual((done2()!.value as RaceSummary).rungs[0].candidates.map((c) => c.name).sort(), [
        'bitfit',
        'linear',
      ]);
      const split = JSON.parse(readFileSync(join(raceDir, 'rungs', 'r0', 'splits', 'split.json'), 'utf8')) as {
        items: { file: string }[];
      };
      assert.ok(!split.items.some((i) => i.file === `Beach/${first}`), 'the excluded image is not trained on');
      assert.ok(!existsSync(join(raceDir, 'rungs', 'r0', 'trials', 'lora-s0')), 'the first race is gone');
      ctx.jobs.dispose();
    },
  );
});
