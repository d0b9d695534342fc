/**
 * The Method screen's memory estimate through the real handlers and engine worker: counted from the program the run
 * will compile (the same count the run itself reports before its first step), scaled to each batch asked, and in a
 * worker lane of its own that ends when idle.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { JobHost, type WorkerFactory } from '../main/jobs/job-host';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent, MethodChoice } from '../main/ipc/types';
import type { MemoryEstimate } from '../main/jobs/engine-contract';
import { call, projectWithTinyModel, until } from './handler-harness';
import { repo } from './helpers';

const choice = (name: string, batchSize: number, options: Record<string, number> = {}): MethodChoice => ({
  name,
  epochs: 1,
  batchSize,
  learningRate: 1e-3,
  seed: 0,
  options,
});

describe('Memory estimate before a run (Method screen)', () => {
  it(
    "equals the run's own estimate, scales with the batch, and says why there is none for the linear probe",
    { timeout: 300_000 },
    async () => {
      const { ctx, events, project: p } = await projectWithTinyModel('Memory', 6);
      const estimate = async (name: string, batchSize: number, options?: Record<string, number>) => {
        await call(ctx, 'projects:update', { id: p.id, method: choice(name, batchSize, options) });
        return call(ctx, 'methods:memory', { projectId: p.id });
      };
      const notice = (e: MemoryEstimate) => {
        assert.ok(e.notice, `an estimate, not: ${e.reason}`);
        return e.notice;
      };
      // what the request may carry is checked before anything runs
      await assert.rejects(call(ctx, 'methods:memory', { projectId: p.id, batch: 8 } as never));

      // GPS, whose selection needs the images: a stand-in selection gives the same shapes
      const gps32 = notice(await estimate('gps', 32, { k: 2 }));
      assert.equal(gps32.batch, 32);
      assert.ok(gps32.estimatedBytes > 500 * 2 ** 20, `${gps32.estimatedBytes} bytes`);
      // free memory as the worker saw it a moment ago
      assert.ok(Math.abs(gps32.availableBytes - freemem()) < 0.25 * freemem(), `${gps32.availableBytes} available`);
      assert.ok(gps32.enough && gps32.fitsBatch === null, 'the tiny ViT fits');

      // what a step holds is linear in the batch: the same increment per 32 images, from the one compiled count
      const gps64 = notice(await estimate('gps', 64, { k: 2 }));
      const gps96 = notice(await estimate('gps', 96, { k: 2 }));
      const step = gps64.estimatedBytes - gps32.estimatedBytes;
      assert.ok(step > 0);
      assert.ok(Math.abs(gps96.estimatedBytes - gps64.estimatedBytes - step) < 1e-6 * step);

      // BitFit keeps less for its backward than GPS (no input of a frozen weight's product is needed for ∂W)
      assert.ok(notice(await estimate('bitfit', 32)).estimatedBytes < gps32.estimatedBytes);

      const linear = await estimate('linear', 32);
      assert.equal(linear.notice, null);
      assert.match(linear.reason ?? '', /features computed once/);

      // a K the backbone's narrowest matrix cannot give is the run's own error, before the run
      await assert.rejects(estimate('gps', 32, { k: 100_000 }), /GPS cannot select K = 100000 weights per neuron/);

      // the run's own estimate, before its first step, is the same count (GPS selects on the real images here)
      await call(ctx, 'projects:update', { id: p.id, method: choice('gps', 32, { k: 2 }) });
      const run = await call(ctx, 'runs:start', { projectId: p.id });
      const memoryEvent = () =>
        events.find(
          (e): e is Extract<AppEvent, { type: 'job-event' }> =>
            e.type === 'job-event' && e.jobId === run.jobId && e.event.type === 'memory',
        );
      await until(() => !!memoryEvent(), 240_000, "the run's memory estimate");
      const ev = memoryEvent()!.event;
      assert.ok(ev.type === 'memory');
      assert.equal(ev.batch, 32);
      assert.equal(ev.estimatedBytes, gps32.estimatedBytes);
      await call(ctx, 'jobs:cancel', { jobId: run.jobId });
      await until(
        () => events.some((e) => e.type === 'job-finished' && e.jobId === run.jobId),
        120_000,
        'the cancelled run',
      );
      ctx.jobs.dispose();
    },
  );

  it("keeps a lane's worker between its calls, apart from the shared one, and ends it when idle", async () => {
    const spawned: { exited: boolean }[] = [];
    const real = nodeWorkerFactory(join(repo, 'main/jobs/worker.ts'));
    const counting: WorkerFactory = (name) => {
      const w = real(name);
      const record = { exited: false };
      spawned.push(record);
      w.onExit(() => (record.exited = true));
      return w;
    };
    const jobs = new JobHost(counting);
    const lane = { name: 'memory', idleMs: 1500 };
    const linear = { modelPath: '/nonexistent.onnx', method: 'linear', batchSize: 8, numClasses: 2 };
    try {
      await jobs.call('estimateMemory', [linear], { lane });
      await jobs.call('estimateMemory', [linear], { lane });
      assert.equal(spawned.length, 1, 'two calls of a lane, one worker');
      await jobs.call('listMethods', [{}]);
      assert.equal(spawned.length, 2, 'the shared worker is another');
      await until(() => spawned[0].exited, 10_000, 'the idle lane worker to end');
      assert.equal(spawned[1].exited, false, 'the shared worker stays');
      await jobs.call('estimateMemory', [linear], { lane });
      assert.equal(spawned.length, 3, 'a later call of the lane starts it again');
    } finally {
      jobs.dispose();
    }
  });
});
