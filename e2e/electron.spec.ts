/**
 * The real desktop app: `_electron.launch` from playwright-core against the built app (out/).
 * Runs where the Electron binary exists; elsewhere it is skipped with the reason printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { repo, shared, shot } from './helpers';

/** Where node_modules/electron keeps its binary, found WITHOUT requiring 'electron' (that would try a download). */
function electronBinary(): { path: string | null; reason: string } {
  const dir = join(repo, 'node_modules', 'electron');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const pathFile = join(dir, 'path.txt');
  const rel = existsSync(pathFile)
    ? readFileSync(pathFile, 'utf8').trim()
    : process.platform === 'win32'
      ? 'electron.exe'
      : process.platform === 'darwin'
        ? 'Electron.app/Contents/MacOS/Electron'
        : 'electron';
  const full = override ? join(override, rel) : join(dir, 'dist', rel);
  if (existsSync(full)) return { path: full, reason: '' };
  return {
    path: null,
    reason: `the Electron binary is not installed (${full} does not exist; .npmrc skips its download). Install it with network access: \`node node_modules/electron/install.js\`, or set ELECTRON_OVERRIDE_DIST_PATH`,
  };
}

const bin = electronBinary();
const built = existsSync(join(repo, 'out/main/index.js'));
const skip = !bin.path ? bin.reason : !built ? 'the app is not built: run `npm run build` first' : false;
if (skip) console.log(`SKIP real-Electron e2e: ${skip}`);

describe('Attune as a real Electron app', { skip }, () => {
  let app: ElectronApplication;
  let page: Page;

  before(async () => {
    const userData = await mkdtemp(join(tmpdir(), 'attune-electron-'));
    app = await _electron.launch({
      executablePath: bin.path!,
      args: [repo, `--user-data-dir=${userData}`, ...(process.env.CI ? ['--no-sandbox'] : [])],
      env: { ...process.env, ATTUNE_CATALOGUE: join(shared, 'models') },
    });
    page = await app.firstWindow();
  });

  after(async () => {
    await app?.close();
  });

  it('opens Home in a hardened window', async () => {
    await page.getByRole('heading', { name: 'Home' }).waitFor();
    // sandboxed, context-isolated page: no Node globals, only window.attune
    const globals = await page.evaluate(() => ({
      process: typeof (globalThis as { process?: unknown }).process,
      module: typeof (globalThis as { module?: unknown }).module,
    }));
    assert.deepEqual(globals, { process: 'undefined', module: 'undefined' });
    // navigation away and new windows are refused
    await page.evaluate(() => window.open('https://example.org'));
    assert.equal(app.windows().length, 1);
    // only the preload API is exposed: no Node in the page
    assert.equal(await page.evaluate(() => typeof (globalThis as { require?: unknown }).require), 'undefined');
    assert.equal(await page.evaluate(() => typeof window.attune.invoke), 'function');
    await shot(page, 'electron-home');
  });

  it('validates every message: a malformed request is refused with a plain error', async () => {
    const res = await page.evaluate(() => window.attune.invoke('projects:create', { name: 42 } as never));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, 'invalid-request');
  });
});
