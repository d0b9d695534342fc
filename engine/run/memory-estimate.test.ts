/** The memory estimate before a run: a missing backbone is the user's error, not a stack trace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../testing/fixtures';
import { estimateRunMemory } from './memory-estimate';

test('a backbone file that is gone is named, with what to do', async () => {
  const modelPath = join(tempDir(), 'moved-away.onnx');
  await assert.rejects(
    estimateRunMemory({ modelPath, method: 'lora', batchSize: 8, numClasses: 2 }),
    (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'model-missing');
      assert.match(e.message, /moved-away\.onnx cannot be read/);
      assert.match(e.hint ?? '', /Model screen/);
      return true;
    },
  );
});
