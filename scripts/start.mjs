#!/usr/bin/env node
// `npm start`: always gives the user the app.
//  - Electron, where its binary and a display exist (a missing binary is fetched once when the network answers);
//  - otherwise browser mode: the same renderer, handlers and engine worker served on 127.0.0.1 with a token
//    (main/server), the URL printed, and the default browser opened where there is a display.
// Options: --browser (browser mode even where Electron could run), --host <name>, --port <n>, --root <dir>, --no-open.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';

const args = process.argv.slice(2);
const win = process.platform === 'win32';
const run = (cmd, a, env = process.env) => spawnSync(cmd, a, { stdio: 'inherit', shell: win, env }).status ?? 1;

// read path.txt ourselves: require('electron') would try to download a missing binary
const pkg = join('node_modules', 'electron');
const hasBinary = () => {
  const pathFile = join(pkg, 'path.txt');
  return existsSync(pathFile) && existsSync(join(pkg, 'dist', readFileSync(pathFile, 'utf8').trim()));
};
const hasDisplay = process.platform !== 'linux' || !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
const overSsh = !!(process.env.SSH_CONNECTION || process.env.SSH_TTY);
const wantsBrowser = args.includes('--browser') || args.includes('--host') || overSsh;

async function online() {
  try {
    await Promise.race([
      lookup('github.com'),
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

function build() {
  const code = run('npx', ['electron-vite', 'build', '--logLevel', 'warn']);
  if (code !== 0) {
    console.error('Building the app failed (see above).');
    process.exit(code);
  }
}

if (hasDisplay && !wantsBrowser) {
  if (!hasBinary() && (await online())) {
    console.log('Fetching the Electron runtime once (about 100 MB)…');
    if (run(process.execPath, [join(pkg, 'install.js')]) !== 0)
      console.log('The download failed; opening Attune in your browser instead.');
  }
  if (hasBinary()) {
    build();
    process.exit(run('npx', ['electron-vite', 'preview', '--skipBuild']));
  }
}

const why = !hasDisplay
  ? 'No display here (a headless machine or an SSH session), so Attune opens in a web browser instead.'
  : overSsh && !args.includes('--browser')
    ? 'This is an SSH session, so Attune runs as a local web server for your browser.'
    : wantsBrowser
      ? 'Browser mode.'
      : 'The desktop runtime (Electron) is not installed and cannot be downloaded now, so Attune opens in your web browser.';
console.log(why);
build();
// the server runs the TypeScript sources (tsx), like the CLI; the renderer it serves is the build above
const server = spawn(process.execPath, ['--import', 'tsx', 'main/server/main.ts', ...args], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
