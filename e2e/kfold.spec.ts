/** "Estimate with k-fold cross-validation" through the real handlers and engine worker (no browser needed). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KFoldSummary } from '../main/jobs/engine-contract';
import type { AppEvent } from '../main/ipc/types';
import { call, projectWithTinyModel, trainLinear, until } from './handler-harness';

describe('k-fold cross-validation (Evaluate: rough figures)', () => {
  it(
    'runs as a job in the engine worker, reports progress, and refuses bad fold counts',
    { timeout: 120_000 },
    async () => {
      const { ctx, events, project: p } = await projectWithTinyModel('K-fold', 6);
      const runId = (await trainLinear(ctx, events, p.id)).record.id;
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
