import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before } from 'node:test';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const shared = resolve(repo, '..', 'shared');
export const artifacts = join(repo, 'e2e', 'artifacts');

const CANDIDATES = [
  process.env.ATTUNE_CHROMIUM,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter(Boolean) as string[];

export function findChromium(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export const NO_CHROMIUM =
  'Chromium was not found (looked at ' +
  CANDIDATES.join(', ') +
  '). Install it with `apt-get install -y chromium` or set ATTUNE_CHROMIUM to a Chromium/Chrome binary.';

export async function launch(colorScheme: 'light' | 'dark' = 'light'): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: findChromium()!,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
  const page = await context.newPage();
  return { browser, page };
}

/** A temporary class-per-folder dataset: the first `perClass` AID images of Beach, Forest and Parking. */
export async function aidFolder(perClass: number): Promise<string> {
  const data = await mkdtemp(join(tmpdir(), 'attune-e2e-data-'));
  for (const c of ['Beach', 'Forest', 'Parking']) {
    await mkdir(join(data, c));
    for (const f of (await readdir(join(shared, 'datasets/aid-satellite-subset', c))).sort().slice(0, perClass))
      await cp(join(shared, 'datasets/aid-satellite-subset', c, f), join(data, c, f));
  }
  return data;
}

export async function shot(page: Page, name: string): Promise<string> {
  await mkdir(artifacts, { recursive: true });
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** The product as a user starts it: `npm start` in browser mode (what CI and headless machines get). */
export interface StartedApp {
  /** the address printed by npm start, with its token */
  openUrl: string;
  /** the same address without the token */
  base: string;
  port: number;
  token: string;
  userData: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The app under test for one describe block: `npm start`'s server in browser mode and a Chromium page, started
 * before the block's tests (the page opened on the app unless `open` is false) and stopped after them; `use` gets
 * them before the first test.
 */
export function appInBrowser(
  use: (s: { app: StartedApp; browser: Browser; page: Page }) => void,
  opts: { open?: boolean } = {},
): void {
  let app: StartedApp | undefined;
  let browser: Browser | undefined;
  before(async () => {
    app = await startApp();
    const launched = await launch();
    browser = launched.browser;
    if (opts.open !== false) await launched.page.goto(app.openUrl);
    use({ app, ...launched });
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });
}

export async function startApp(
  opts: { userData?: string; roots?: string[]; catalogue?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<StartedApp> {
  const userData = opts.userData ?? (await mkdtemp(join(tmpdir(), 'attune-e2e-')));
  const roots = opts.roots ?? [shared, tmpdir()];
  const child = spawn('npm', ['start', '--silent', '--', ...(opts.args ?? ['--browser', '--no-open'])], {
    cwd: repo,
    // own process group, so stop() ends npm, the server and its engine workers together
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...(opts.env ?? process.env),
      ATTUNE_USER_DATA: userData,
      ATTUNE_ROOTS: roots.join(delimiter),
      ATTUNE_CATALOGUE: opts.catalogue ?? join(shared, 'models'),
    },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const openUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no address within 120 s:\n${out}`)), 120_000);
    const look = () => {
      const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stdout!.on('data', look);
    child.on('exit', (code) => reject(new Error(`npm start exited (${code}) before serving:\n${out}`)));
  });
  const u = new URL(openUrl);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    openUrl,
    base: `${u.origin}/`,
    port: Number(u.port),
    token: u.searchParams.get('token')!,
    userData,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      process.kill(-child.pid!, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    },
  };
}

/** On the Method screen in expert mode: the linear probe, trained for one epoch (the quickest run). */
export async function chooseLinearOneEpoch(page: Page): Promise<void> {
  await page.getByTestId('method-linear').click();
  await page.locator('[data-testid="method-linear"][aria-checked="true"]').waitFor();
  await page.getByText('Advanced settings').click();
  await page.getByTestId('epochs').fill('1');
  await page.getByTestId('epochs').press('Tab');
  await page.getByText('1 epoch ·').waitFor();
}

/** On the Train screen: waits for the run to end and asserts that it finished, with the app's failure text if not. */
export async function expectRunFinished(page: Page, timeout: number): Promise<void> {
  await page
    .getByTestId('run-status')
    .filter({ hasText: /Finished|Failed/ })
    .waitFor({ timeout });
  const failure =
    (await page
      .locator('.failed')
      .textContent()
      .catch(() => null)) ?? '';
  assert.equal(await page.getByTestId('run-status').textContent(), 'Finished', `training failed: ${failure}`);
}

/** Picks `path` in the in-app file browser (browser mode's stand-in for native dialogs). */
export async function pickInApp(
  page: Page,
  path: string,
  kind: 'folder' | 'file' = 'folder',
  opts: { keepOpen?: boolean } = {},
): Promise<void> {
  const dialog = page.getByTestId('file-browser');
  await dialog.waitFor();
  await dialog.getByTestId('browse-path').fill(kind === 'folder' ? path : dirname(path));
  await dialog.getByTestId('browse-go').click();
  if (kind === 'file') {
    const name = basename(path);
    await dialog.getByTestId('browse-entry').filter({ hasText: name }).first().click();
  } else {
    await dialog
      .getByTestId('browse-choose')
      .filter({ hasText: basename(path) })
      .waitFor();
  }
  if (opts.keepOpen) return;
  await dialog.getByTestId('browse-choose').click();
  await dialog.waitFor({ state: 'detached' });
}

/** A new project named `name` whose data is the folder, or the labels CSV, picked in the in-app file browser. */
export async function newProject(page: Page, name: string, data: { folder: string } | { csv: string }): Promise<void> {
  await page.getByLabel('Project name').fill(name);
  await page.getByRole('button', { name: 'New project' }).click();
  if ('folder' in data) {
    await page.getByTestId('choose-folder').click();
    await pickInApp(page, data.folder);
  } else {
    await page.getByRole('button', { name: 'Choose labels CSV…' }).click();
    await pickInApp(page, data.csv, 'file');
  }
}
