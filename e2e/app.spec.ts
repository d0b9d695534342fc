/**
 * The scripted user, in Debian's Chromium against the real handlers and the real engine (e2e/bridge-server.ts).
 * Screenshots of every screen go to e2e/artifacts/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PRELOAD_SHIM, startBridge, type Bridge } from './bridge-server';
import { NO_CHROMIUM, findChromium, launch, shared, shot } from './helpers';

const chromiumPath = findChromium();
if (!chromiumPath) console.log(`# SKIP browser e2e: ${NO_CHROMIUM}`);

describe('Attune in the browser (real handlers, real engine)', { skip: chromiumPath ? false : NO_CHROMIUM }, () => {
  let bridge: Bridge;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    bridge = await startBridge({ catalogue: join(shared, 'models') });
    ({ browser, page } = await launch());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.addInitScript({ content: PRELOAD_SHIM });
  });

  after(async () => {
    await browser?.close();
    await bridge?.close();
  });

  it('shows Home with a way to create a project', async () => {
    await page.goto(bridge.url);
    await page.getByRole('heading', { name: 'Home' }).waitFor();
    await page.getByRole('button', { name: 'New project' }).waitFor();
    await shot(page, '01-home');
    assert.deepEqual(consoleErrors, []);
  });

  it('creates a project and reads the scan report of the BUSI folder', async () => {
    await page.getByLabel('Project name').fill('Breast ultrasound');
    await page.getByRole('button', { name: 'New project' }).click();
    await page.getByRole('heading', { name: 'Data' }).waitFor();
    bridge.dialogAnswers.push(join(shared, 'datasets', 'busi-ultrasound'));
    await page.getByTestId('choose-folder').click();
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
  });
});
