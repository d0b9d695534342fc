/**
 * The scripted user, in Debian's Chromium, against the product itself: `npm start` in browser mode (the real
 * server, handlers and engine). Native dialogs are the in-app file browser here. Screenshots go to e2e/artifacts/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  NO_CHROMIUM,
  chooseLinearOneEpoch,
  expectRunFinished,
  findChromium,
  launch,
  pickInApp,
  shared,
  shot,
  startApp,
  type StartedApp,
} from './helpers';

const chromiumPath = findChromium();
if (!chromiumPath) console.log(`SKIP browser e2e: ${NO_CHROMIUM}`);

/**
 * LoRA's memory at its batch, counted from its training program; at a batch too large for this machine, a warning
 * whose button takes the largest halving that fits.
 */
async function expectMemoryEstimate(page: Page): Promise<void> {
  await page.getByTestId('method-lora').click();
  const estimate = (batch: number | string) =>
    page
      .getByTestId('memory-estimate')
      .filter({ hasText: new RegExp(`^Memory: about [0-9.]+ GB at batch ${batch}, of [0-9.]+ GB free now`) });
  await estimate('\\d+').waitFor({ timeout: 60_000 });
  // ViT-Tiny's LoRA at batch 1024 needs about 40 GB: more than this machine has free (CI machines have 24 GB)
  if (freemem() > 30 * 2 ** 30) return;
  await page.getByText('Advanced settings').click();
  await page.getByTestId('batch-size').fill('1024');
  await page.getByTestId('batch-size').press('Tab');
  await page.getByTestId('memory-warning').filter({ hasText: 'at batch 1024' }).waitFor({ timeout: 30_000 });
  await page.getByTestId('memory-warning').scrollIntoViewIfNeeded();
  await shot(page, '04b-method-memory-warning');
  const use = page.getByTestId('use-fitting-batch');
  const batch = /Use batch (\d+)/.exec((await use.textContent()) ?? '')?.[1];
  assert.ok(batch && Number(batch) < 1024, `a smaller batch is proposed: ${await use.textContent()}`);
  await use.click();
  await estimate(batch).waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId('batch-size').inputValue(), batch);
  await page.getByText('Advanced settings').click();
}

describe('Attune in the browser (real handlers, real engine)', { skip: chromiumPath ? false : NO_CHROMIUM }, () => {
  let bridge: StartedApp;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    bridge = await startApp();
    ({ browser, page } = await launch());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await bridge?.stop();
  });

  it('shows Home with a way to create a project', async () => {
    await page.goto(bridge.openUrl);
    await page.getByRole('heading', { name: 'Home' }).waitFor();
    await page.getByRole('button', { name: 'New project' }).waitFor();
    await shot(page, '01-home');
    assert.deepEqual(consoleErrors, []);
  });

  it('creates a project and reads the scan report of the BUSI folder', async () => {
    await page.getByLabel('Project name').fill('Breast ultrasound');
    await page.getByRole('button', { name: 'New project' }).click();
    await page.getByRole('heading', { name: 'Data' }).waitFor();
    await page.getByTestId('choose-folder').click();
    await pickInApp(page, join(shared, 'datasets', 'busi-ultrasound'));
    await page.getByTestId('scan-report').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('scan-total').textContent(), '780');
    const rows = await page.getByTestId('class-row').allTextContents();
    assert.equal(rows.length, 3);
    assert.match(rows.join(' '), /benign\s*437/);
    // the duplicate with conflicting labels is reported in plain words with the affected file
    await page.getByText('Duplicate images').waitFor();
    await page.getByText('malignant/malignant (145).png').waitFor();
    await page.locator('img[alt^="benign example"]').first().waitFor();
    await shot(page, '02-data');
    // an invalid split value is named in words and stays in its field (it was once reverted silently)
    await page.getByTestId('split-val').fill('90');
    await page.getByTestId('split-val').press('Tab');
    await page
      .getByTestId('split-error')
      .filter({ hasText: 'Validation share must be between 5 % and 40 %' })
      .waitFor();
    assert.equal(await page.getByTestId('split-val').inputValue(), '90');
    await shot(page, '02b-data-split-error');
    await page.getByTestId('split-val').fill('15');
    await page.getByTestId('split-val').press('Tab');
    await page.getByTestId('split-error').waitFor({ state: 'detached' });
  });

  it('picks the default backbone from the local catalogue and shows its compatibility check', async () => {
    await page.getByTestId('next').click();
    await page.getByRole('heading', { name: 'Model', exact: true }).waitFor();
    const recommended = page.getByTestId('catalogue-entry').filter({ hasText: 'Recommended' });
    await recommended.getByRole('heading', { name: 'ViT-Tiny/16' }).waitFor();
    await recommended.getByTestId('download-model').click();
    // copied from ../shared/models into the cache with a checksum check, then selected and inspected
    await page.getByTestId('compat').getByTestId('param-count').waitFor({ timeout: 120_000 });
    const params = Number((await page.getByTestId('param-count').textContent())!.replace(/[^0-9]/g, ''));
    assert.ok(params > 5_000_000 && params < 6_500_000, `ViT-Tiny parameter count ${params}`);
    await page.getByText('On this computer').first().waitFor();
    assert.match(
      (await page.getByTestId('pretrained').textContent()) ?? '',
      /OK/,
      'ViT-Tiny is recognised as pretrained',
    );
    await shot(page, '03-model');
  });

  it('picks the linear probe and trains one epoch with live progress', async () => {
    await page.getByTestId('next').click();
    await page.getByRole('heading', { name: 'Method', exact: true }).waitFor();
    // three presets, each with its time on this machine; "Start training" is visible without scrolling at 1280×800
    await page.getByTestId('presets').waitFor();
    assert.equal(await page.getByTestId('preset-time').count(), 3);
    const start = (await page.getByTestId('start-training').boundingBox())!;
    assert.ok(start.y + start.height <= 800, `Start training is below the fold (y = ${start.y})`);
    await shot(page, '04a-method-presets');
    await page.getByTestId('expert-toggle').click();
    await page.getByTestId('recommendation').waitFor();
    await expectMemoryEstimate(page);
    await chooseLinearOneEpoch(page);
    await page.evaluate(() => document.querySelector('main')?.scrollTo(0, 0));
    await shot(page, '04-method');
    await page.getByTestId('start-training').click();
    await page.getByRole('heading', { name: 'Train', exact: true }).waitFor();
    await page.getByTestId('run-status').filter({ hasText: 'Training' }).waitFor();
    await page.getByTestId('cancel-training').waitFor();
    // live progress from the engine (feature extraction for the linear probe), or the end if it was quicker
    await page
      .getByTestId('phase')
      .filter({ hasText: 'Computing image features' })
      .or(page.getByTestId('run-status').filter({ hasText: /Finished|Failed/ }))
      .first()
      .waitFor({ timeout: 180_000 });
    await page.waitForTimeout(1500);
    await shot(page, '05-train-running');
    await expectRunFinished(page, 540_000);
    assert.notEqual(await page.getByTestId('provider').textContent(), '—');
    await shot(page, '06-train-done');
  });

  it('opens the evaluation', async () => {
    await page.getByTestId('next').click();
    await page.getByRole('heading', { name: 'Evaluate' }).waitFor();
    await page.getByTestId('eval-summary').waitFor({ timeout: 120_000 });
    const acc = await page.getByTestId('accuracy').textContent();
    assert.match(acc ?? '', /\d+\.\d %/);
    await page.getByRole('table', { name: /Confusion matrix/ }).waitFor();
    await page.waitForTimeout(500);
    await shot(page, '07-evaluate');
  });

  it('exports the model and tries the exported file on an image', async () => {
    await page.getByTestId('next').click();
    await page.getByRole('heading', { name: 'Export' }).waitFor();
    const out = await mkdtemp(join(tmpdir(), 'attune-export-'));
    await page.getByTestId('choose-export-dir').click();
    await pickInApp(page, out);
    await page.getByTestId('export-dir').filter({ hasText: out }).waitFor();
    await page.getByTestId('export').click();
    await page.getByTestId('export-files').waitFor({ timeout: 300_000 });
    const files = await page.getByTestId('export-files').textContent();
    for (const f of ['model.onnx', 'labels.txt', 'README.md'])
      assert.ok(files?.includes(f), `${f} missing from ${files}`);
    await shot(page, '08-export');
    await page.getByTestId('try-image').click();
    await pickInApp(page, join(shared, 'datasets', 'busi-ultrasound', 'malignant', 'malignant (1).png'), 'file');
    await page.getByTestId('prediction').or(page.getByTestId('error-banner')).waitFor({ timeout: 120_000 });
    await shot(page, '09-try-it');
    assert.ok(
      await page.getByTestId('prediction').isVisible(),
      `Try it failed: ${await page
        .getByTestId('error-banner')
        .textContent()
        .catch(() => '')}`,
    );
    assert.match((await page.getByTestId('predicted-label').textContent()) ?? '', /benign|malignant|normal/);
  });

  it('asks before replacing an earlier export, and "Try it" waits for the new one', async () => {
    // the folder now holds model.onnx: exporting again must not overwrite it silently
    await page.getByTestId('export').click();
    await page.getByTestId('export-exists').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('try-image').count(), 0, '"Try it" must not offer the old export meanwhile');
    await page.getByTestId('export-replace').click();
    await page.getByTestId('export-files').waitFor({ timeout: 300_000 });
    await page.getByTestId('try-image').waitFor();
  });

  it('compares the runs of the project', async () => {
    await page.getByRole('button', { name: /Compare runs/ }).click();
    await page.getByRole('heading', { name: 'Compare' }).waitFor();
    await page.getByRole('checkbox').first().waitFor();
    // the test balanced accuracy with its 95 % interval, from the run's evaluation
    await page
      .getByTestId('compare-bal-acc')
      .filter({ hasText: /%.*(CI|–|interval)/s })
      .first()
      .waitFor({ timeout: 30_000 });
    await shot(page, '10-compare');
  });

  it('is usable from the keyboard with a visible focus ring, and shows a settings screen', async () => {
    await page.getByRole('button', { name: 'Settings' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const st = getComputedStyle(el);
      return { tag: el.tagName, outline: st.outlineStyle, width: parseFloat(st.outlineWidth) };
    });
    assert.notEqual(focused.tag, 'BODY');
    assert.equal(focused.outline, 'solid');
    assert.ok(focused.width >= 2);
    await shot(page, '11-settings-keyboard-focus');
  });

  it("a new project shows none of another project's runs", async () => {
    await page.getByRole('button', { name: 'Home' }).first().click();
    await page.getByLabel('Project name').fill('Second project');
    await page.getByRole('button', { name: 'New project' }).click();
    await page.getByRole('heading', { name: 'Data' }).waitFor();
    const steps = page.getByRole('navigation', { name: 'Steps' });
    for (const name of ['Train', 'Evaluate', 'Export']) {
      assert.equal(
        await steps.getByRole('button', { name }).isDisabled(),
        true,
        `${name} must be disabled in a project without runs`,
      );
    }
  });

  it('keeps projects and runs across a restart', async () => {
    const userData = bridge.userData;
    await bridge.stop();
    bridge = await startApp({ userData });
    await page.goto(bridge.openUrl);
    await page.getByRole('heading', { name: 'Home' }).waitFor();
    await page.getByRole('button', { name: /Breast ultrasound/ }).waitFor();
    await page.getByRole('cell', { name: 'done' }).waitFor();
    await page.getByRole('button', { name: /Breast ultrasound/ }).click();
    await page.getByTestId('scan-total').filter({ hasText: '780' }).waitFor();
  });

  it('follows the system dark theme', async () => {
    const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    const p = await dark.newPage();
    await p.goto(bridge.openUrl);
    await p.getByRole('heading', { name: 'Home' }).waitFor();
    await p.getByText('Breast ultrasound').first().waitFor();
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(20, 24, 30)');
    await shot(p, '12-home-dark');
    await p.getByText('Breast ultrasound').first().click();
    await p.getByTestId('scan-report').waitFor();
    await shot(p, '13-data-dark');
    await dark.close();
  });
  it('screenshots every screen at 1280×800 and 1920×1080, light and dark', { timeout: 300_000 }, async () => {
    const screens = ['Data', 'Model', 'Method', 'Train', 'Evaluate', 'Export', 'Compare'];
    for (const [width, height] of [
      [1280, 800],
      [1920, 1080],
    ] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: scheme });
        const p = await ctx.newPage();
        await p.goto(bridge.openUrl);
        await p.getByRole('heading', { name: 'Home' }).waitFor();
        const tag = `${width}x${height}-${scheme}`;
        await shot(p, `screens-${tag}-0-home`);
        await p
          .getByRole('button', { name: /Breast ultrasound/ })
          .first()
          .click();
        const nav = p.getByRole('navigation', { name: 'Steps' });
        for (const [i, name] of screens.entries()) {
          await nav.getByRole('button', { name }).click();
          await p.getByRole('heading', { name, exact: true }).waitFor();
          if (name === 'Evaluate') await p.getByTestId('eval-summary').waitFor({ timeout: 120_000 });
          if (name === 'Method') await p.getByTestId('presets').waitFor({ timeout: 60_000 });
          await p.waitForTimeout(300);
          await shot(p, `screens-${tag}-${i + 1}-${name.toLowerCase()}`);
        }
        await p.getByRole('button', { name: 'Settings' }).click();
        await p.getByRole('heading', { name: 'Settings' }).waitFor();
        await shot(p, `screens-${tag}-8-settings`);
        await ctx.close();
      }
    }
  });
});
