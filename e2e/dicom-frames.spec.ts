/**
 * Multi-frame DICOM in the app (Data screen: "Multi-frame files"), through the real handlers and engine worker, on
 * the DICOM zoo (every common encoding, 8 multi-frame files): each file's middle frame by default, or every frame as
 * its own image, which the scan, a run and a method race then all use.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { appContext, call, raceSpec, trainLinear, useTinyModel } from './handler-harness';
import { NO_CHROMIUM, appInBrowser, findChromium, shared, shot, newProject } from './helpers';

describe('Multi-frame DICOM (Data screen: middle frame or every frame)', () => {
  it(
    'counts files or frames as chosen, and a run and a race train on what was chosen',
    { timeout: 240_000 },
    async () => {
      const zoo = join(shared, 'datasets', 'dicom-zoo');
      const { ctx, events } = await appContext(null, join(zoo, 'labels.csv'));
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

      await useTinyModel(ctx, events, p.id);
      const { record, spec } = await trainLinear<{ data: { frames?: string } }>(ctx, events, p.id, 16);
      const split = JSON.parse(await readFile(join(record.runDir, 'split.json'), 'utf8')) as { items: unknown[] };
      assert.equal(spec.data.frames, 'all');
      assert.equal(split.items.length, 125);
      assert.equal((await raceSpec<{ frames?: string }>(ctx, events, p.id)).frames, 'all');

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
    await newProject(page, 'DICOM zoo', { csv: join(shared, 'datasets', 'dicom-zoo', 'labels.csv') });
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
