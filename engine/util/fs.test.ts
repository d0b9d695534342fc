/** Attune's own JSON files (run.json, sweep.json, split.json): missing, unreadable or damaged, each says so plainly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAttuneError } from '../errors';
import { loadSplit } from '../data/split';
import { loadRunSpec } from '../run/spec';
import { loadSweep } from '../sweep/sweep';
import { tempDir } from '../testing/fixtures';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAttuneError(e), String(e));
    assert.ok(e.hint.length > 0, 'says what to do');
    return e.code;
  }
  assert.fail('expected an error');
}

test('a missing, unparsable or schema-breaking run.json, sweep.json or split file gets its own code and hint', async () => {
  const empty = tempDir();
  assert.equal(await code(loadRunSpec(empty)), 'run-missing');
  assert.equal(await code(loadSweep(empty)), 'sweep-missing');
  assert.equal(await code(loadSplit(join(empty, 'split.json'))), 'split-unreadable');

  const damaged = tempDir();
  writeFileSync(join(damaged, 'run.json'), '{"version": 1, "cut off');
  writeFileSync(join(damaged, 'sweep.json'), '{ not json');
  assert.equal(await code(loadRunSpec(damaged)), 'run-missing');
  assert.equal(await code(loadSweep(damaged)), 'sweep-missing');

  const other = tempDir();
  writeFileSync(join(other, 'run.json'), JSON.stringify({ version: 99, hello: 'world' }));
  writeFileSync(join(other, 'sweep.json'), JSON.stringify({ version: 2 }));
  writeFileSync(join(other, 'split.json'), JSON.stringify({ items: 'none' }));
  assert.equal(await code(loadRunSpec(other)), 'run-invalid');
  assert.equal(await code(loadSweep(other)), 'sweep-invalid');
  assert.equal(await code(loadSplit(join(other, 'split.json'))), 'split-invalid');
});
