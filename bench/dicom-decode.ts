/**
 * DICOM decode timings per transfer syntax, for bench/data.bench.ts to call (or run alone:
 * `npx tsx bench/dicom-decode.ts`). For each syntax it times readDicomImage on the largest zoo file of that syntax
 * (median of `repeats`, after one warm-up that loads the codec), plus the 512×512 CT slices in JPEG 2000, and
 * readDicomHeader over the whole zoo. `reducedMs`: the same with `minSide` 256 (resizeTarget of the default 224
 * preprocessing), as the pipeline reads it: JPEG 2000 / HTJ2K then decode at a reduced wavelet level.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { readDicomHeader, readDicomImage } from '../engine/data/dicom';

export interface DicomDecodeTiming {
  syntax: string;
  file: string;
  pixels: number;
  medianMs: number;
  reducedMs: number;
  reducedSize: string;
}
const MIN_SIDE = 256;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function dicomDecodeTimings(
  zoo: string,
  repeats = 5,
): Promise<{
  decode: DicomDecodeTiming[];
  headerMsPerFile: number;
}> {
  const files = readdirSync(zoo, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.dcm'))
    .sort();
  const largest = new Map<string, { file: string; size: number }>();
  const t0 = performance.now();
  for (const f of files) {
    const h = await readDicomHeader(path.join(zoo, f));
    const size = h.rows * h.columns * h.samplesPerPixel;
    const best = largest.get(h.transferSyntaxName);
    if (!best || size > best.size) largest.set(h.transferSyntaxName, { file: f, size });
  }
  const headerMsPerFile = (performance.now() - t0) / files.length;
  const decode: DicomDecodeTiming[] = [];
  const ct512 = [
    ['CT/693_J2KR.dcm', 'JPEG 2000 (lossless), 512×512 CT'],
    ['CT/693_J2KI.dcm', 'JPEG 2000 (lossy), 512×512 CT'],
  ];
  const cases = [...largest].map(([syntax, v]) => [syntax, v] as const);
  for (const [file, syntax] of ct512) cases.push([syntax!, { file: file!, size: 512 * 512 }]);
  for (const [syntax, { file, size }] of cases) {
    const full = path.join(zoo, file);
    await readDicomImage(full);
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const s = performance.now();
      await readDicomImage(full);
      times.push(performance.now() - s);
    }
    const reduced: number[] = [];
    let reducedSize = '';
    for (let i = 0; i < repeats; i++) {
      const s = performance.now();
      const img = await readDicomImage(full, { minSide: MIN_SIDE });
      reduced.push(performance.now() - s);
      reducedSize = `${img.width}×${img.height}`;
    }
    decode.push({ syntax, file, pixels: size, medianMs: median(times), reducedMs: median(reduced), reducedSize });
  }
  return { decode, headerMsPerFile };
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const zoo = path.resolve(import.meta.dirname, '../../shared/datasets/dicom-zoo');
  const { decode, headerMsPerFile } = await dicomDecodeTimings(zoo);
  for (const d of decode) {
    const px = String(d.pixels).padStart(8);
    const reduced = `minSide ${MIN_SIDE}: ${d.reducedMs.toFixed(1)} ms (${d.reducedSize})`;
    console.log(
      `${d.syntax.padEnd(48)} ${d.file.padEnd(36)} ${px} px  ${d.medianMs.toFixed(1).padStart(6)} ms  ${reduced}`,
    );
  }
  console.log(`readDicomHeader: ${headerMsPerFile.toFixed(2)} ms per file`);
}
