/**
 * Round trips through Debian's dcmtk / gdcm encoders where they are installed: an uncompressed zoo image encoded
 * losslessly (colour and signed grey, in each lossless syntax) must read back bit-identical. Skipped, with the
 * reason printed, where the tools are missing: reference.test.ts covers the zoo files without them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../testing/fixtures';
import { readDicomImage } from './index';
import { floatBytes, zoo } from './test-dicom';

const has = (tool: string): boolean => spawnSync(tool, ['--version']).error === undefined;
const TOOLS = ['dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'gdcmconv'];
const missing = TOOLS.filter((t) => !has(t));
const skip = missing.length ? `needs ${missing.join(', ')} (apt-get install dcmtk libgdcm-tools)` : false;
if (skip) console.log(`# transcode.test.ts skipped: ${skip}`);

let dir: string;
before(() => {
  dir = tempDir('attune-dicom-transcode-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ENCODERS: [name: string, cmd: string[]][] = [
  ['JPEG lossless (process 14)', ['dcmcjpeg', '+el']],
  ['JPEG lossless (process 14, selection value 1)', ['dcmcjpeg', '+e1']],
  ['JPEG-LS (lossless)', ['dcmcjpls']],
  ['RLE lossless', ['dcmcrle']],
  ['JPEG 2000 (lossless)', ['gdcmconv', '--j2k']],
];

for (const source of ['US/US1_UNCR.dcm', 'CT/CT_small.dcm', 'MR/MR2_UNCR.dcm']) {
  test(`${source} encoded losslessly by dcmtk/gdcm reads back bit-identical`, { skip }, async () => {
    const want = floatBytes((await readDicomImage(zoo(source))).data);
    for (const [name, [tool, ...args]] of ENCODERS) {
      const out = join(dir, `${name.replace(/\W+/g, '_')}_${source.replace(/\W+/g, '_')}`);
      const r = spawnSync(tool!, [...args, zoo(source), out], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
      const img = await readDicomImage(out);
      assert.equal(img.header.transferSyntaxName, name);
      assert.ok(floatBytes(img.data).equals(want), `${name} of ${source}`);
    }
  });
}
