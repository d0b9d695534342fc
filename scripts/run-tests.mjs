#!/usr/bin/env node
// Runs node's test runner over *.test.ts / *.spec.ts files under the given folders.
// Node 20's --test does not expand globs itself, and shells differ (Windows), so we list files here.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// every temp folder the tests make (hundreds: runs, exports, sweeps, app data) goes under one folder, removed when
// the run ends; ATTUNE_KEEP_TEST_TMP=1 keeps it for a look
const scratch = mkdtempSync(join(tmpdir(), 'attune-tests-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: scratch },
});
if (process.env.ATTUNE_KEEP_TEST_TMP) console.error(`test temp folders kept in ${scratch}`);
else rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
process.exit(r.status ?? 1);
