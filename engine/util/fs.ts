import { mkdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { AttuneError } from '../errors';

/** What the user is told about a file: an error code, what is wrong, and what to do. */
export interface FileComplaint {
  code: string;
  message: string;
  hint: string;
}

/**
 * A JSON file of Attune's own (run.json, sweep.json, split.json) checked against its schema: a missing or unreadable
 * file and one that does not match each get the caller's plain message (the first schema issues as details).
 */
export async function readJsonFile<S extends z.ZodTypeAny>(
  file: string,
  schema: S,
  says: { unreadable: FileComplaint; invalid: FileComplaint },
): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const u = says.unreadable;
    throw new AttuneError(u.code, u.message, u.hint, { cause: String(err) });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const v = says.invalid;
    throw new AttuneError(v.code, v.message, v.hint, { issues: parsed.error.issues.slice(0, 5) });
  }
  return parsed.data;
}

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
