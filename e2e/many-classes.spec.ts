/**
 * A first-time user with 30 classes (AID aerial scenes) and an own ONNX file, through `npm start` in browser mode:
 * thumbnails for every class, a non-model file refused in plain words, a 30-class confusion matrix that fits the
 * window, the most confused pairs, a cell filtering the error gallery, an enlarged error.
 * Screenshots at 1280×800 and 1920×1080 go to e2e/artifacts/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  NO_CHROMIUM,
  appInBrowser,
  chooseLinearOneEpoch,
  expectRunFinished,
  findChromium,
  pickInApp,
  shared,
  shot,
  newProject,
} from './helpers';

const chromiumPath = findChromium();

describe('Thirty classes and an own model file', { skip: chromiumPath ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it('shows thumbnails for every one of the 30 classes', { timeout: 240_000 }, async () => {
    await newProject(page, 'Aerial scenes', { folder: join(shared, 'datasets', 'aid-satellite-subset') });
    await page.getByTestId('scan-report').waitFor({ timeout: 180_000 });
    assert.equal(await page.getByTestId('class-row').count(), 30);
    // every class row gets its example images, not only the first 64 files' classes
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="class-row"]')].every((r) => r.querySelector('img')),
      null,
      { timeout: 60_000 },
    );
    await shot(page, 'many-01-data-1280');
  });

  it(
    'says plainly when a file is not a model, and waits for the check before Continue',
    { timeout: 120_000 },
    async () => {
      await page.getByTestId('next').click();
      await page.getByRole('heading', { name: 'Model', exact: true }).waitFor();
      const fake = join(await mkdtemp(join(tmpdir(), 'attune-fake-')), 'not-a-model.onnx');
      await writeFile(fake, 'this is a text file, not an ONNX model');
      await page.getByTestId('open-onnx').click();
      await pickInApp(page, fake, 'file');
      await page.getByTestId('compat-failed').waitFor({ timeout: 60_000 });
      assert.equal(
        await page.getByTestId('compat').getByText('all supported').count(),
        0,
        'no "OK — all operations supported" for a file that is not a model',
      );
      assert.equal(await page.getByTestId('next').isDisabled(), true);
      await shot(page, 'many-02-model-not-a-model');
      await page.getByTestId('open-onnx').click();
      await pickInApp(page, join(shared, 'models', 'tiny-cnn-random.onnx'), 'file');
      await page.getByTestId('param-count').waitFor({ timeout: 60_000 });
      // a random-weight model does not pass as pretrained
      assert.match((await page.getByTestId('pretrained').textContent()) ?? '', /Not pretrained/);
      assert.equal(await page.getByTestId('next').isDisabled(), false);
    },
  );

  it('trains a linear probe for one epoch', { timeout: 600_000 }, async () => {
    await page.getByTestId('next').click();
    await page.getByTestId('expert-toggle').click();
    await chooseLinearOneEpoch(page);
    await page.getByTestId('start-training').click();
    await expectRunFinished(page, 540_000);
  });

  it(
    'fits the 30-class confusion matrix in the window, lists confused pairs, and filters the gallery by cell',
    { timeout: 240_000 },
    async () => {
      await page.getByTestId('next').click();
      await page.getByTestId('eval-summary').waitFor({ timeout: 180_000 });
      for (const [w, h] of [
        [1280, 800],
        [1920, 1080],
      ] as const) {
        await page.setViewportSize({ width: w, height: h });
        const box = (await page.getByTestId('cm-scroll').boundingBox())!;
        assert.ok(box.x + box.width <= w, `the matrix overflows the window at ${w} px (${box.x} + ${box.width})`);
        await page.getByTestId('cm-scroll').scrollIntoViewIfNeeded();
        await shot(page, `many-03-evaluate-${w}`);
      }
      await page.getByTestId('confused-pairs').waitFor();
      await page.getByTestId('cm-order').selectOption('clustered');
      const first = page.getByTestId('cm-cell').first();
      const count = Number(await first.textContent());
      await first.click();
      await page.getByTestId('gallery-filter').waitFor();
      const shown = await page.getByTestId('error-thumb').count();
      assert.ok(shown > 0 && shown <= Math.min(count, 48), `${shown} images for a cell of ${count}`);
      await page.getByTestId('error-thumb').first().click();
      await page.getByTestId('enlarged').locator('img').waitFor({ timeout: 30_000 });
      await shot(page, 'many-04-enlarged-error');
      await page.getByTestId('enlarged').getByRole('button', { name: 'Close' }).click();
      // a correction from the gallery is kept in the project and listed on the Data screen, with Undo
      await page.getByTestId('exclude-image').first().click();
      await page.getByTestId('correction').filter({ hasText: 'Left out of training' }).waitFor();
      await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: 'Data' }).click();
      await page.getByTestId('corrections').filter({ hasText: 'Your corrections (1)' }).waitFor();
      await shot(page, 'many-04b-corrections');
    },
  );
  it(
    'names the training phase, shows "Cancelling…", and no accuracy after an early cancel',
    { timeout: 400_000 },
    async () => {
      await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: 'Method' }).click();
      await page.getByTestId('expert-toggle').click();
      await page.getByTestId('method-full').click();
      await page.locator('[data-testid="method-full"][aria-checked="true"]').waitFor();
      await page.getByTestId('start-training').click();
      await page.getByRole('heading', { name: 'Train', exact: true }).waitFor();
      // once steps run, the phase says training (it once stayed on "Building the training program")
      await page
        .getByTestId('phase')
        .filter({ hasText: /^Training — epoch 1 of/ })
        .waitFor({ timeout: 300_000 });
      await page.getByTestId('cancel-training').click();
      const cancel = page.getByTestId('cancel-training');
      const state = await cancel
        .evaluate((b: HTMLButtonElement) => ({ text: b.textContent, disabled: b.disabled }))
        .catch(() => null);
      // the run may have stopped already; if not, the button says so and cannot be pressed twice
      if (state) assert.deepEqual(state, { text: 'Cancelling…', disabled: true });
      await page.getByTestId('run-status').filter({ hasText: 'Cancelled' }).waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('best-val').textContent(), '—');
      await shot(page, 'many-05-cancelled');
    },
  );
});
