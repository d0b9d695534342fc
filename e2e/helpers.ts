import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const shared = resolve(repo, '..', 'shared');
export const artifacts = join(repo, 'e2e', 'artifacts');

const CANDIDATES = [process.env.ATTUNE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[];

export function findChromium(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export const NO_CHROMIUM =
  'Chromium was not found (looked at ' + CANDIDATES.join(', ') + '). Install it with `apt-get install -y chromium` or set ATTUNE_CHROMIUM to a Chromium/Chrome binary.';

export async function launch(colorScheme: 'light' | 'dark' = 'light'): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: findChromium()!,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
  const page = await context.newPage();
  return { browser, page };
}

export async function shot(page: Page, name: string): Promise<string> {
  await mkdir(artifacts, { recursive: true });
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
