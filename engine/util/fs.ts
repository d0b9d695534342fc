import { mkdir, rename, writeFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AttuneError } from '../errors';

/** Writes to a temp file and renames it into place, so a crash or full disk never leaves a half-written file. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      throw new AttuneError(
        'disk-full',
        `The disk is full: could not write ${path}.`,
        'Free some space or choose another output folder, then try again; nothing was lost.',
        { path },
      );
    if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM')
      throw new AttuneError(
        'not-writable',
        `Attune may not write to ${path}.`,
        'Choose an output folder you can write to.',
        { path },
      );
    throw e;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
