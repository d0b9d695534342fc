#!/usr/bin/env node
// `npm start`: builds and opens the desktop app where Electron can run; on a headless machine, or where the
// Electron binary was not installed (offline installs skip it), says so and shows the command line instead.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// read path.txt ourselves: require('electron') would try to download a missing binary
const pkg = join('node_modules', 'electron');
const pathFile = join(pkg, 'path.txt');
const hasBinary = existsSync(pathFile) && existsSync(join(pkg, 'dist', readFileSync(pathFile, 'utf8').trim()));
const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' }).status ?? 1;

if (hasBinary && !headless) {
  const built = run('npx', ['electron-vite', 'build']);
  if (built !== 0) process.exit(built);
  process.exit(run('npx', ['electron-vite', 'preview']));
}
console.log(
  hasBinary
    ? 'No display found, so the desktop app cannot open here. Use the command line instead:'
    : 'The Electron binary is not installed (offline installs skip it; with internet run `npm run setup:electron`, then `npm start`).\nMeanwhile, the command line does everything the app does:',
);
process.exit(run(process.execPath, ['--import', 'tsx', 'engine/cli/main.ts', '--help']));
