/**
 * `npm start` in browser mode (scripts/start.mjs runs this where Electron cannot open a window):
 *   --host <name>   listen on another interface (remote use: prefer an SSH tunnel; a warning is printed)
 *   --port <n>      a fixed port (default: a free one)
 *   --root <dir>    a folder the in-app file browser may show (repeatable; default: your home folder)
 *   --no-open       do not open the default browser
 * ATTUNE_USER_DATA, ATTUNE_ROOTS (folders separated by the platform's path delimiter) and ATTUNE_CATALOGUE
 * override the defaults.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nodeWorkerFactory } from '../jobs/node-worker';
import { startServer } from './server';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** where Electron keeps the app's settings, so both modes share one workspace */
function defaultUserData(): string {
  if (process.env.ATTUNE_USER_DATA) return resolve(process.env.ATTUNE_USER_DATA);
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'attune');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'attune');
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'attune');
}

export function hasDisplay(): boolean {
  return process.platform !== 'linux' || !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  child.on('error', () => console.log('(Could not open a browser by itself: open the address above.)'));
  child.unref();
}

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    root: { type: 'string', multiple: true },
    'no-open': { type: 'boolean' },
    browser: { type: 'boolean' },
  },
  strict: false,
});

const host = typeof values.host === 'string' ? values.host : undefined;
const port = typeof values.port === 'string' ? Number(values.port) : 0;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${String(values.port)} is not a port number (0–65535).`);
  process.exit(2);
}
const rootArgs = (Array.isArray(values.root) ? values.root : []).filter((r): r is string => typeof r === 'string');
const roots = [...rootArgs, ...(process.env.ATTUNE_ROOTS ?? '').split(delimiter).filter(Boolean)].map((r) =>
  resolve(r),
);
const rendererDir = join(repo, 'out', 'renderer');
if (!existsSync(join(rendererDir, 'index.html'))) {
  console.error('The app is not built yet: run `npm start` (it builds first) or `npm run build`.');
  process.exit(1);
}

const server = await startServer({
  userData: defaultUserData(),
  rendererDir,
  workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
  roots: roots.length ? roots : [homedir()],
  host,
  port,
  version: (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version,
  catalogue: process.env.ATTUNE_CATALOGUE ?? null,
});

if (host && !['127.0.0.1', 'localhost', '::1'].includes(host)) {
  console.warn(
    `WARNING: Attune listens on ${host}, so other machines can reach it. Anyone with the address below can use your data.\n` +
      '  Safer: keep the default (127.0.0.1) and tunnel it: ssh -L 8765:127.0.0.1:8765 this-machine, then start with --port 8765.',
  );
}
console.log(`\nAttune is running in your browser at:\n\n    ${server.openUrl}\n`);
console.log(`Folders the file browser can show: ${server.ctx.browseRoots.join(', ')}`);
console.log('Keep this window open while you use Attune; press Ctrl+C to stop it.\n');
if (!values['no-open'] && hasDisplay() && !host) openBrowser(server.openUrl);

const stop = () => {
  void server.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
