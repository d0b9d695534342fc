import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes `data` to `file` atomically (temp file in the same folder + rename). */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}
