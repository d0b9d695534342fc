/**
 * Multispectral images on the Data screen, in the browser (13-band Sentinel-2 GeoTIFFs, EuroSAT-MS): the band choice
 * training uses, a preset or any three bands as red, green and blue, or all bands.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { NO_CHROMIUM, appInBrowser, findChromium, shared, shot, newProject } from './helpers';

describe('Band choice for multispectral images', { skip: findChromium() ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it('defaults Sentinel-2 to true colour, and takes any three bands or all of them', { timeout: 180_000 }, async () => {
    await newProject(page, 'Sentinel-2', { folder: join(shared, 'datasets', 'eurosat-ms') });
    await page.getByTestId('scan-report').waitFor({ timeout: 120_000 });
    const picker = page.getByTestId('band-picker');
    assert.match((await picker.textContent()) ?? '', /default \(Sentinel-2 true colour 4,3,2\)[^]*--bands 4,3,2/);
    assert.equal(await page.getByTestId('band-needed').count(), 0, 'Sentinel-2 needs no choice');
    // any three bands: near infrared, red, green
    await picker.locator('select').selectOption('rgb');
    await page.getByTestId('band-red').selectOption('8');
    await page.getByTestId('band-green').selectOption('4');
    await page.getByTestId('band-blue').selectOption('3');
    await page.getByTestId('use-bands').click();
    await picker.getByText('--bands 8,4,3').waitFor();
    // the previews are drawn again through the chosen bands
    await page.waitForFunction(
      () =>
        document.querySelectorAll('[data-testid="class-row"] img').length === 40 &&
        !document.querySelector('[data-testid="class-row"] [role="img"]:not(img)'),
      null,
      { timeout: 60_000 },
    );
    await shot(page, 'bands-01-three-bands');
    // kept in the project: after a reload the same choice is shown
    await page.reload();
    await page
      .getByRole('button', { name: /Sentinel-2/ })
      .first()
      .click();
    await page.getByTestId('band-picker').getByText('--bands 8,4,3').waitFor({ timeout: 30_000 });
    assert.deepEqual(
      await Promise.all(['red', 'green', 'blue'].map((c) => page.getByTestId(`band-${c}`).inputValue())),
      ['8', '4', '3'],
    );
    await page.getByTestId('band-picker').locator('select').selectOption('all');
    await page.getByTestId('band-picker').getByText('--bands all').waitFor();
  });
});
