/**
 * CPU and wall time of reading every dicom-zoo file as the pipeline does (decodeBaseRgb, default 224 preprocessing,
 * no cache), twice in one process: the first pass also loads and compiles each WASM codec once (V8 compiles and
 * tiers up in background threads, counted in process CPU), the second is what every further file costs. CPU time
 * moves far less than wall time on a loaded machine. `--tree DIR` reads through another checkout's engine (for
 * before/after in one sitting). Usage: npx tsx bench/dicom-zoo-passes.ts [--tree DIR]
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

const i = process.argv.indexOf('--tree');
const tree = path.resolve(i > 0 ? process.argv[i + 1]! : path.join(import.meta.dirname, '..'));
const { decodeBaseRgb } = (await import(
  path.join(tree, 'engine/data/image.ts')
)) as typeof import('../engine/data/image');
const { defaultPreprocessing, VIT_NORMALISATION } = (await import(
  path.join(tree, 'engine/preprocessing.ts')
)) as typeof import('../engine/preprocessing');
const zoo = path.resolve(import.meta.dirname, '../../shared/datasets/dicom-zoo');
const pre = defaultPreprocessing(224, VIT_NORMALISATION.mean, VIT_NORMALISATION.std);
const files = readdirSync(zoo, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.dcm'))
  .sort();

for (const pass of ['first (codecs load)', 'second']) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of files) await decodeBaseRgb(path.join(zoo, f), pre);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  console.log(
    `${pass.padEnd(20)} ${files.length} files  wall ${wall.toFixed(0)} ms (${((files.length / wall) * 1000).toFixed(
      0,
    )} images/s)  cpu ${cpu.toFixed(0)} ms (${((files.length / cpu) * 1000).toFixed(0)} images/cpu-s)`,
  );
}
