/** Paths to the shared real models and datasets, and small samples of them copied to a temp folder for tests. */
import { cpSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const SHARED = resolve(process.cwd(), '../shared');
export const MODELS = {
  vitTiny: join(SHARED, 'models/vit-tiny-patch16-224.onnx'),
  mobilenet: join(SHARED, 'models/mobilenetv2-1.0-backbone.onnx'),
  tinyVit: join(SHARED, 'models/tiny-vit-random.onnx'),
  tinyCnn: join(SHARED, 'models/tiny-cnn-random.onnx'),
};
export const PROBE_DIR = join(SHARED, 'models/imagenet-probe');
export const DATASETS = {
  aid: join(SHARED, 'datasets/aid-satellite-subset'),
  busi: join(SHARED, 'datasets/busi-ultrasound'),
};

/** Copies the first `perClass` images (sorted) of each class into a fresh temp folder. */
export function sampleDataset(src: string, classes: string[], perClass: number): string {
  const dst = mkdtempSync(join(tmpdir(), 'attune-sample-'));
  for (const c of classes) {
    mkdirSync(join(dst, c), { recursive: true });
    for (const f of readdirSync(join(src, c)).sort().slice(0, perClass)) cpSync(join(src, c, f), join(dst, c, f));
  }
  return dst;
}

export const tempDir = (prefix = 'attune-test-'): string => mkdtempSync(join(tmpdir(), prefix));
