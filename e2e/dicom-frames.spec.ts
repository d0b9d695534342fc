/**
 * Multi-frame DICOM in the app (Data screen: "Multi-frame files"), through the real handlers and engine worker, on
 * the DICOM zoo (every common encoding, 8 multi-frame files): each file's middle frame by default, or every frame as
 * its own image, which the scan, a run and a method race then all use.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import type { AppEvent } from '../main/ipc/types';
import type { Page } from 'playwright-core';
import { call, until } from './handler-harness';
import { NO_CHROMIUM, appInBrowser, findChromium, pickInApp, repo, shared, shot } from './helpers';

describe('Multi-frame DICOM (Data screen: middle frame or every frame)', () => {
  it(
    'counts files or frames as chosen, and a run and a race train on what was chosen',
    { timeout: 240_000 },
    async () => {
      const zoo = join(shared, 'datasets', 'dicom-zoo');
      const events: AppEvent[] = [];
      const ctx = await createContext({
        userData: await mkdtemp(join(tmpdir(), 'attune-main-')),
        workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
        dialogs: { chooseFolder: async () => null, chooseFile: async () => join(zoo, 'labels.csv') },
        emit: (e) => events.push(e),
        version: 'test',
        platform: process.platform,
        transport: 'browser',
        catalogueOverride: join(shared, 'models'),
      });
      const p = await call(ctx, 'projects:create', { name: 'DICOM zoo' });
      await call(ctx, 'data:chooseCsv', { projectId: p.id });
      const middle = await call(ctx, 'data:scan', { projectId: p.id });
      assert.equal(middle.total, 49);
      assert.equal(middle.dicom!.multiFrameFiles, 8);

      // every frame: other samples, so the scan is made again and the next run makes a new split
      const q = await call(ctx, 'projects:update', { id: p.id, frames: 'all' });
      assert.equal(q.data!.frames, 'all');
      assert.equal(q.scan, null);
      const all = await call(ctx, 'data:scan', { projectId: p.id });
      assert.equal(all.total, 125);
      assert.deepEqual([all.dicom!.files, all.dicom!.multiFrameFiles], [49, 8], 'files counted as files, not frames');
      // choosing it again changes nothing
      assert.equal((await call(ctx, 'projects:update', { id: p.id, frames: 'all' })).scan!.total, 125);

      const dl = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
      await until(
        () => events.some((e) => e.type === 'job-finished' && e.jobId === dl.jobId),
        30_000,
        'the model copy',
      );
      await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-vit-random' });
      await call(ctx, 'projects:update', {
        id: p.id,
        method: { name: 'linear', epochs: 1, batchSize: 16, learningRate: 1e-2, seed: 0, options: {} },
      });
      const { runId } = await call(ctx, 'runs:start', { projectId: p.id });
      await until(() => events.some((e) => e.type === 'job-finished' && e.runId === runId), 120_000, 'the run');
      const record = await call(ctx, 'runs:get', { projectId: p.id, runId });
      assert.equal(record.status, 'done', JSON.stringify(record.error));
      const spec = JSON.parse(await readFile(join(record.runDir, 'run.json'), 'utf8')) as { data: { frames?: string } };
      const split = JSON.parse(await readFile(join(record.runDir, 'split.json'), 'utf8')) as { items: unknown[] };
      assert.equal(spec.data.frames, 'all');
      assert.equal(split.items.length, 125);

      const race = await call(ctx, 'methods:race', { projectId: p.id, methods: ['linear', 'bitfit'], epochs: 1 });
      const raced = () =>
        events.find((e) => e.type === 'job-finished' && e.jobId === race.jobId) as
          Extract<AppEvent, { type: 'job-finished' }> | undefined;
      await until(() => !!raced(), 180_000, 'the race');
      assert.ok(raced()!.ok, JSON.stringify(raced()!.error));
      const sweep = JSON.parse(await readFile(join(race.raceDir, 'rungs', 'r0', 'sweep.json'), 'utf8')) as {
        spec: { frames?: string };
      };
      assert.equal(sweep.spec.frames, 'all');

      // back to the middle frame
      await call(ctx, 'projects:update', { id: p.id, frames: 'middle' });
      assert.equal((await call(ctx, 'data:scan', { projectId: p.id })).total, 49);
      ctx.jobs.dispose();
    },
  );
});

describe('The Data screen on DICOM, in the browser', { skip: findChromium() ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it('summarises the DICOM files and offers the window and multi-frame choices', { timeout: 180_000 }, async () => {
    await page.getByLabel('Project name').fill('DICOM zoo');
    await page.getByRole('button', { name: 'New project' }).click();
    await page.getByRole('button', { name: 'Choose labels CSV…' }).click();
    await pickInApp(page, join(shared, 'datasets', 'dicom-zoo', 'labels.csv'), 'file');
    await page.getByTestId('scan-report').waitFor({ timeout: 120_000 });
    assert.equal(await page.getByTestId('scan-total').textContent(), '49');
    assert.match((await page.getByTestId('dicom-summary').textContent()) ?? '', /DICOM: 49 files from \d+ patients/);
    await page.getByTestId('window-picker').waitFor();
    const frames = page.getByTestId('frames-picker');
    assert.match((await frames.textContent()) ?? '', /Multi-frame files \(8\)/);
    await frames.locator('select').selectOption('all');
    await page.waitForFunction(
      () => document.querySelector('[data-testid="scan-total"]')?.textContent === '125',
      null,
      { timeout: 120_000 },
    );
    assert.match((await frames.textContent()) ?? '', /--frames all/);
    await shot(page, 'dicom-01-every-frame');
  });
});
