#!/usr/bin/env node
// Runs node's test runner over *.test.ts / *.spec.ts files under the given folders.
// Node 20's --test does not expand globs itself, and shells differ (Windows), so we list files here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const [pattern, ...roots] = process.argv.slice(2);
const re = new RegExp(pattern);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (re.test(name)) files.push(p);
  }
};
for (const r of roots) walk(r);
if (files.length === 0) {
  console.error(`no test files matching ${pattern} under ${roots.join(', ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
