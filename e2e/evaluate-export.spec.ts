/**
 * Evaluate and Export as a user meets them, through `npm start` in browser mode (real handlers, worker and engine):
 * the imbalance proposal on Method, heatmaps over the misclassified gallery and in Try it, the operating point and
 * referral before export, the image-input model, Try it's caveats; and two waits the app must honour: Continue
 * stays disabled while the model check runs, and Try it offers no export while a new one is being written.
 * The waits are made observable by holding the request in the page (a wrapped fetch) until the test has looked.
 * Screenshots go to e2e/artifacts/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, realpath } from 'node:fs/promises';
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
} from './helpers';

const chromiumPath = findChromium();

/**
 * Holds the page's next app request on `channel` (with `replace` as given, when given) before it is sent, until
 * release(): the request is pending for the app exactly as a slow engine job would be. (A script string: tsx's
 * helpers do not exist in the page.)
 */
/**
 * Holds the page's calls on `channel` (only those whose request.replace equals `replace`, when given; only the
 * first, with `once`) until release(); `answered` resolves when a held call's answer has reached the page.
 */
declare global {
  interface Window {
    __hold?: { held: boolean; answered: boolean; release(): void };
  }
}

async function hold(page: Page, channel: string, opts: { replace?: boolean; once?: boolean } = {}) {
  await page.evaluate(`(() => {
    const send = window.fetch.bind(window);
    let release;
    const released = new Promise((r) => (release = r));
    window.__hold = { held: false, answered: false, release: () => { window.fetch = send; release(); } };
    window.fetch = async (input, init) => {
      const body = typeof init?.body === 'string' ? JSON.parse(init.body) : null;
      const replace = ${JSON.stringify(opts.replace ?? null)};
      if (body?.channel === ${JSON.stringify(channel)} && (replace === null || body.request?.replace === replace)
          && !(${JSON.stringify(!!opts.once)} && window.__hold.held)) {
        window.__hold.held = true;
        await released;
        const answer = await send(input, init);
        setTimeout(() => (window.__hold.answered = true), 0);
        return answer;
      }
      return send(input, init);
    };
  })()`);
  return {
    // function predicates: a string one is evaluated with eval(), which the app's CSP refuses
    seen: () => page.waitForFunction(() => window.__hold?.held === true, null, { timeout: 60_000 }),
    release: () => page.evaluate('window.__hold.release()'),
    answered: () => page.waitForFunction(() => window.__hold?.answered === true, null, { timeout: 60_000 }),
  };
}

describe(
  'Evaluate and Export: heatmaps, imbalance, operating point, and waits',
  { skip: chromiumPath ? false : NO_CHROMIUM },
  () => {
    let page: Page;
    appInBrowser((s) => ({ page } = s));

    it('scans an imbalanced folder (40 benign, 10 malignant, 10 normal)', { timeout: 120_000 }, async () => {
      const data = await mkdtemp(join(tmpdir(), 'attune-imbalanced-'));
      for (const [c, n] of [
        ['benign', 40],
        ['malignant', 10],
        ['normal', 10],
      ] as const) {
        await mkdir(join(data, c));
        const src = join(shared, 'datasets', 'busi-ultrasound', c);
        for (const f of (await readdir(src))
          .filter((x) => x.endsWith('.png') && !x.includes('mask'))
          .sort()
          .slice(0, n))
          await cp(join(src, f), join(data, c, f));
      }
      await page.getByLabel('Project name').fill('Imbalanced ultrasound');
      await page.getByRole('button', { name: 'New project' }).click();
      // the listing asked for when the dialog opens arrives last: it must not replace the folder the user went to
      const first = await hold(page, 'files:list', { once: true });
      await page.getByTestId('choose-folder').click();
      await first.seen();
      await pickInApp(page, data, 'folder', { keepOpen: true });
      await first.release();
      await first.answered();
      const dialog = page.getByTestId('file-browser');
      assert.equal(await dialog.getByTestId('browse-path').inputValue(), await realpath(data));
      assert.equal(await dialog.getByTestId('browse-entry').count(), 3, 'the three class folders stay listed');
      await dialog.getByTestId('browse-choose').click();
      await page.getByTestId('scan-report').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('scan-total').textContent(), '60');
    });

    it('keeps Continue disabled while the model check runs', { timeout: 120_000 }, async () => {
      await page.getByTestId('next').click();
      await page.getByRole('heading', { name: 'Model', exact: true }).waitFor();
      const check = await hold(page, 'models:inspect');
      await page.getByTestId('open-onnx').click();
      await pickInApp(page, join(shared, 'models', 'tiny-cnn-random.onnx'), 'file');
      await check.seen();
      await page.getByText('Reading the model graph…').waitFor();
      assert.equal(await page.getByTestId('next').isDisabled(), true, 'Continue must wait for the compatibility check');
      await page.getByText('Wait for the compatibility check to finish.').waitFor();
      await shot(page, 'evx-01-model-check-running');
      await check.release();
      await page.getByTestId('param-count').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('next').isDisabled(), false);
    });

    it('proposes class-weighted loss for the imbalance; the choice reaches the run', { timeout: 600_000 }, async () => {
      await page.getByTestId('next').click();
      await page.getByRole('heading', { name: 'Method', exact: true }).waitFor();
      await page
        .getByTestId('balance-proposal')
        .filter({ hasText: /4\.0× .*balanced accuracy/ })
        .waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('balance').inputValue(), 'weights', 'class-weighted loss is pre-selected');
      const start = (await page.getByTestId('start-training').boundingBox())!;
      assert.ok(start.y + start.height <= 800, `Start training is below the fold (y = ${start.y})`);
      await shot(page, 'evx-02-method-imbalance');
      await page.getByTestId('expert-toggle').click();
      await chooseLinearOneEpoch(page);
      // the user prefers sampling: the run trains with it (the evaluation reports what the engine used)
      await page.getByTestId('balance').selectOption('sampling');
      await page.waitForFunction(
        () => (document.querySelector('[data-testid="balance"]') as HTMLSelectElement | null)?.value === 'sampling',
      );
      await page.getByTestId('start-training').click();
      await expectRunFinished(page, 540_000);
    });

    it('shows where the model looked on the misclassified test images', { timeout: 240_000 }, async () => {
      await page.getByTestId('next').click();
      await page.getByTestId('eval-summary').waitFor({ timeout: 180_000 });
      await page
        .getByText(/Best epoch chosen by validation balanced accuracy; imbalance handled by class-balanced sampling/)
        .waitFor();
      await page.getByTestId('error-gallery').waitFor();
      assert.equal(await page.getByTestId('error-gallery').getByTestId('heatmap').count(), 0, 'no overlay until asked');
      await page.getByTestId('show-heatmaps').check();
      const overlay = page.getByTestId('error-gallery').getByTestId('heatmap').first();
      await overlay.waitFor({ timeout: 120_000 });
      // one colour-mapped pixel per Grad-CAM cell, stretched over the thumbnail
      const img = await overlay.evaluate((i: HTMLImageElement) => ({
        src: i.src.slice(0, 22),
        w: i.naturalWidth,
        h: i.naturalHeight,
        shown: i.getBoundingClientRect().width,
      }));
      assert.equal(img.src, 'data:image/png;base64,');
      assert.ok(img.w >= 2 && img.h >= 2 && img.w <= 64, `grid ${img.w}×${img.h}`);
      assert.equal(img.shown, 88);
      // under it, the square the model saw (tiny-cnn-random's 32 × 32 input), which the map covers exactly, not the
      // thumbnail of the whole image
      const base = await overlay.evaluate((i: HTMLImageElement) => {
        const under = i.parentElement!.querySelector('img:not([data-testid="heatmap"])') as HTMLImageElement;
        return { src: under.src.slice(0, 23), w: under.naturalWidth, h: under.naturalHeight };
      });
      assert.deepEqual(base, { src: 'data:image/jpeg;base64,', w: 32, h: 32 });
      await page.getByTestId('error-gallery').scrollIntoViewIfNeeded();
      await page.waitForTimeout(300);
      await shot(page, 'evx-03-evaluate-heatmaps');
      // enlarged: the image beside what the model saw, with the map
      await page.getByTestId('error-thumb').first().click();
      await page.getByTestId('enlarged-heatmap').getByTestId('heatmap').waitFor();
      await shot(page, 'evx-03b-enlarged-heatmap');
      await page.getByTestId('enlarged').getByRole('button', { name: 'Close' }).click();
      await page.getByTestId('show-heatmaps').uncheck();
      // the channel is validated: at most 16 images a request, absolute paths only
      const refused = (await page.evaluate(`Promise.all([
      window.attune.invoke('runs:explain', { projectId: 'x', runId: 'y', files: Array.from({ length: 17 }, (_, i) => '/tmp/' + i + '.png') }),
      window.attune.invoke('export:explain', { modelPath: 'model.onnx', file: '/tmp/a.png' }),
    ])`)) as { ok: boolean }[];
      assert.deepEqual(
        refused.map((r) => r.ok),
        [false, false],
      );
      assert.equal(await page.getByTestId('error-gallery').getByTestId('heatmap').count(), 0);
    });

    it(
      'estimates the accuracy by k-fold cross-validation: every image tested once, with its interval',
      {
        timeout: 600_000,
      },
      async () => {
        // 60 images: the single split's test figures are rough, so Evaluate offers k-fold of the run's own recipe
        await page.getByTestId('kfold-start').click();
        const result = page.getByTestId('kfold-result');
        await result.waitFor({ timeout: 540_000 });
        const text = (await result.textContent()) ?? '';
        assert.match(text, /k-fold accuracy \d+(\.\d)? % \((95 % interval \d+(\.\d)? % – \d+(\.\d)? %|no interval)/);
        assert.match(text, /Each of the 5 folds tested \d+(–\d+)? images \(60 in all\)/);
        await shot(page, 'evx-03c-kfold');
      },
    );

    it(
      'exports with an operating point and referral, and reports the image-input model',
      { timeout: 300_000 },
      async () => {
        await page.getByTestId('next').click();
        await page.getByRole('heading', { name: 'Export' }).waitFor();
        const out = await mkdtemp(join(tmpdir(), 'attune-export-op-'));
        await page.getByTestId('choose-export-dir').click();
        await pickInApp(page, out);
        await page.getByTestId('export-choices').locator('summary').click();
        await page.getByTestId('op-class').selectOption('malignant');
        await page.getByTestId('op-target').fill('90');
        await page.getByTestId('op-target').press('Tab');
        // the preview: fitted on validation, reported on test
        await page
          .getByTestId('op-preview')
          .filter({ hasText: /"malignant" is flagged from p ≥ 0?\.\d{3}: on val\w* .*sensitivity \d+ %/ })
          .waitFor({ timeout: 60_000 });
        await page.getByTestId('refer-toggle').check();
        await page.getByTestId('refer-below-export').fill('40');
        await page.getByTestId('refer-below-export').press('Tab');
        await shot(page, 'evx-04-export-choices');
        await page.getByTestId('export').click();
        await page.getByTestId('export-files').waitFor({ timeout: 240_000 });
        await page.getByTestId('export-op').filter({ hasText: '"malignant" from p ≥' }).waitFor();
        const im = (await page.getByTestId('image-model').textContent()) ?? '';
        assert.match(
          im,
          /model-image\.onnx.*agrees with model\.onnx on the top class for \d+\.\d %|No image-input model/s,
        );
        await shot(page, 'evx-05-export-done');
      },
    );

    it('Try it shows the caveats and the heatmap from the exported file', { timeout: 180_000 }, async () => {
      await page.getByTestId('try-image').click();
      await pickInApp(page, join(shared, 'datasets', 'busi-ultrasound', 'malignant', 'malignant (3).png'), 'file');
      await page.getByTestId('prediction').waitFor({ timeout: 120_000 });
      // the operating point is stored in the model and said in words beside every answer
      await page
        .getByTestId('caveats')
        .filter({ hasText: 'Operating point: "malignant" is flagged from p ≥' })
        .waitFor();
      await page.getByTestId('show-heatmaps').check();
      await page.getByTestId('prediction').getByTestId('heatmap').waitFor({ timeout: 120_000 });
      await page.getByTestId('prediction').scrollIntoViewIfNeeded();
      await shot(page, 'evx-06-try-it-heatmap');
    });

    it(
      'offers no Try it while a new export is being written, then uses the new one',
      { timeout: 300_000 },
      async () => {
        await page.getByTestId('export').click();
        await page.getByTestId('export-exists').waitFor({ timeout: 60_000 });
        const writing = await hold(page, 'export:run', { replace: true });
        await page.getByTestId('export-replace').click();
        await writing.seen();
        await page.getByRole('button', { name: 'Exporting…' }).waitFor();
        const tryButton = page.getByTestId('try-image');
        assert.ok(
          (await tryButton.count()) === 0 || (await tryButton.isDisabled()),
          '"Try it" must not use the old export while a new one is written',
        );
        assert.equal(
          await page.getByTestId('prediction').count(),
          0,
          'no prediction of the old export is left on screen',
        );
        await shot(page, 'evx-07-export-rewriting');
        await writing.release();
        await page.getByTestId('export-files').waitFor({ timeout: 240_000 });
        await page.getByTestId('try-image').click();
        await pickInApp(page, join(shared, 'datasets', 'busi-ultrasound', 'malignant', 'malignant (3).png'), 'file');
        await page.getByTestId('prediction').waitFor({ timeout: 120_000 });
      },
    );
  },
);
