/**
 * 16-bit CT stored as PNG (Hounsfield + 32768, the DeepLesion convention) in the app: the Data screen's window and
 * value offset, which the previews, a run and a method race use — through the real handlers, then in the browser.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { appContext, call, raceSpec, trainLinear, useTinyModel } from './handler-harness';
import { NO_CHROMIUM, appInBrowser, findChromium, shared, shot, newProject } from './helpers';

const png16 = join(shared, 'datasets', 'ct-contrast-png16');

describe('16-bit PNG: window and value offset (Data screen)', () => {
  it(
    'previews, runs and races read the stored values minus the offset through the window',
    { timeout: 240_000 },
    async () => {
      const { ctx, events } = await appContext(png16);
      const p = await call(ctx, 'projects:create', { name: 'CT PNG' });
      await call(ctx, 'data:chooseFolder', { projectId: p.id });
      const scan = await call(ctx, 'data:scan', { projectId: p.id });
      assert.equal(scan.deepImages, 100);
      await assert.rejects(call(ctx, 'projects:update', { id: p.id, valueOffset: 0.5 }), 'a whole number');
      const q = await call(ctx, 'projects:update', { id: p.id, valueOffset: 32768, window: 'mediastinum' });
      assert.deepEqual([q.data!.valueOffset, q.data!.window], [32768, 'mediastinum']);
      // the previews differ with the offset: without it, HU + 32768 is far above the mediastinum window (all white)
      const file = scan.classes[0].examples![0];
      const [withOffset] = await call(ctx, 'data:thumbnails', {
        files: [file],
        window: 'mediastinum',
        valueOffset: 32768,
      });
      const [without] = await call(ctx, 'data:thumbnails', { files: [file], window: 'mediastinum' });
      assert.ok(withOffset.dataUrl && without.dataUrl && withOffset.dataUrl !== without.dataUrl);

      await useTinyModel(ctx, events, p.id);
      type Values = { offset: number; voi: { preset?: string } };
      const { spec } = await trainLinear<{ preprocessing: { values: Values } }>(ctx, events, p.id, 16);
      assert.equal(spec.preprocessing.values.offset, 32768);
      assert.equal(spec.preprocessing.values.voi.preset, 'mediastinum');
      const race = await raceSpec<{ valueOffset?: number; window?: string }>(ctx, events, p.id);
      assert.deepEqual([race.valueOffset, race.window], [32768, 'mediastinum']);
      // cleared: no offset
      assert.equal((await call(ctx, 'projects:update', { id: p.id, valueOffset: null })).data!.valueOffset, undefined);
      ctx.jobs.dispose();
    },
  );
});

describe('The Data screen on 16-bit PNG, in the browser', { skip: findChromium() ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it('offers a window and a value offset, and previews through them', { timeout: 120_000 }, async () => {
    await newProject(page, 'CT PNG', { folder: png16 });
    await page.getByTestId('scan-report').waitFor({ timeout: 60_000 });
    const offset = page.getByTestId('value-offset');
    assert.match((await offset.textContent()) ?? '', /Value offset of the 100 16-bit images/);
    await offset.locator('input').fill('32768');
    await page.getByTestId('use-offset').click();
    await page.getByTestId('window-picker').locator('select').selectOption('mediastinum');
    await page.getByTestId('window-picker').getByText('--value-offset 32768 --window mediastinum').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="class-row"] img').length === 8, null, {
      timeout: 60_000,
    });
    await shot(page, 'png16-01-window-offset');
  });
});
