/**
 * "Find the best method for my data" on the Compare screen as a user meets it, through `npm start` in browser mode
 * (real handlers, worker and engine): the panel's button starts the default race (every method, two seeds), its
 * progress shows, and the winner with its interval and the rounds render; the Method screen then recommends it.
 * Kept small: 18 AID images and the tiny random ViT. Screenshots go to e2e/artifacts/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  NO_CHROMIUM,
  aidFolder,
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

describe('Compare: the method race panel in the browser', { skip: chromiumPath ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it(
    'makes a project of 18 images with the tiny ViT and one short run (Compare needs a run)',
    { timeout: 120_000 },
    async () => {
      const data = await aidFolder(6);
      await newProject(page, 'Race in the browser', { folder: data });
      await page.getByTestId('scan-report').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('scan-total').textContent(), '18');
      await page.getByTestId('next').click();
      await page.getByRole('heading', { name: 'Model', exact: true }).waitFor();
      await page.getByTestId('open-onnx').click();
      await pickInApp(page, join(shared, 'models', 'tiny-vit-random.onnx'), 'file');
      await page.getByTestId('param-count').waitFor({ timeout: 60_000 });
      await page.getByTestId('next').click();
      await page.getByRole('heading', { name: 'Method', exact: true }).waitFor();
      await page.getByTestId('expert-toggle').click();
      await chooseLinearOneEpoch(page);
      await page.getByTestId('start-training').click();
      await expectRunFinished(page, 60_000);
    },
  );

  it(
    'races every method from the panel and shows the winner with its interval and the rounds',
    { timeout: 240_000 },
    async () => {
      await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: 'Compare' }).click();
      await page.getByRole('heading', { name: 'Compare', exact: true }).waitFor();
      const panel = page.getByTestId('method-race');
      await panel.getByTestId('race-start').click();
      const winner = panel.getByTestId('race-winner');
      // while it runs (a trial at a time, each a few hundred ms at least): its progress, the trial, and Stop
      await panel.getByText(/^\d+ of \d+ trials in this round — \S+/).waitFor({ timeout: 60_000 });
      await panel.getByRole('button', { name: 'Stop' }).waitFor();
      await winner.waitFor({ timeout: 150_000 });
      assert.equal(await panel.getByRole('alert').count(), 0, 'the race reports no error');
      const text = (await winner.textContent()) ?? '';
      // the default race: six methods, two seeds (hence the interval), the winner trained for the full 9 epochs
      assert.match(
        text,
        /^Best: (linear|full|spd|lora|gps|bitfit) — test accuracy \d+(\.\d)? % \(95 % interval \d+(\.\d)? % – \d+(\.\d)? %\) after 9 epochs\./,
      );
      const rounds = await panel.getByTestId('race-rung').allTextContents();
      assert.equal(rounds.length, 2, rounds.join('\n'));
      assert.match(rounds[0], /^Round 1 \(1 epoch\): /);
      assert.match(rounds[1], /^Round 2 \(3 epochs\): /);
      // six candidates, the best third kept; then two, one kept: the winner
      assert.equal(rounds[0].split(', ').length, 6, rounds[0]);
      assert.equal(rounds[0].match(/✓/g)?.length, 2, rounds[0]);
      assert.equal(rounds[1].split(', ').length, 2, rounds[1]);
      assert.match(rounds[1], new RegExp(`${text.match(/^Best: (\w+)/)![1]} \\d+(\\.\\d)? % ✓`));
      assert.equal(await panel.getByTestId('race-start').textContent(), 'Run the race again');
      await panel.scrollIntoViewIfNeeded();
      await shot(page, 'race-01-winner');
      // the Method screen recommends the winner, in the race's words
      await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: 'Method' }).click();
      await page
        .getByTestId('presets')
        .getByText(/Won a method race on your data: 6 methods trained 1 epoch\(s\) each/)
        .waitFor({ timeout: 30_000 });
    },
  );
});
