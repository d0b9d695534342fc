/**
 * Folder walking for datasets: follows directory symlinks (datasets are often assembled from links)
 * but tracks real paths so loops end, skips hidden/system files silently, never writes anything.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_EXTENSIONS } from './sniff';

export interface WalkedFile {
  /** path relative to the root, '/'-separated, Unicode NFC as stored by the file system */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
  /** false for extension-less files that may still be images (DICOM exports often have no extension) */
  hasImageExtension: boolean;
}

export interface WalkResult {
  files: WalkedFile[];
  /** tabular files at any depth (candidates for a labels file) */
  tables: WalkedFile[];
  /** directories reached twice through symlinks (loops or aliases), relative paths */
  symlinkRepeats: string[];
  /** directories that could not be read, with the reason */
  unreadableDirs: { rel: string; message: string }[];
  /** count of non-image files ignored */
  otherFiles: number;
}

const SYSTEM_NAMES = new Set([
  'thumbs.db',
  'desktop.ini',
  'icon\r',
  '__macosx',
  '$recycle.bin',
  'system volume information',
]);

/** Hidden and OS bookkeeping entries: dot-files, `._*` AppleDouble, Thumbs.db, __MACOSX. */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('~$') || SYSTEM_NAMES.has(name.toLowerCase());
}

const TABLE_EXTENSIONS = new Set(['.csv', '.tsv']);

export async function walkDataset(root: string): Promise<WalkResult> {
  const result: WalkResult = { files: [], tables: [], symlinkRepeats: [], unreadableDirs: [], otherFiles: 0 };
  const seenDirs = new Set<string>();
  const rootReal = await realpath(root);
  seenDirs.add(rootReal);
  // breadth-first with a small amount of parallelism per level; sorted for determinism
  let level: { abs: string; rel: string }[] = [{ abs: root, rel: '' }];
  while (level.length > 0) {
    const next: { abs: string; rel: string }[] = [];
    const listed = await Promise.all(
      level.map(async (dir) => {
        try {
          return { dir, entries: await readdir(dir.abs, { withFileTypes: true }) };
        } catch (err) {
          result.unreadableDirs.push({ rel: dir.rel, message: err instanceof Error ? err.message : String(err) });
          return { dir, entries: [] };
        }
      }),
    );
    for (const { dir, entries } of listed) {
      const sorted = entries
        .filter((e) => !isHiddenName(e.name))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const stats = await Promise.all(
        sorted.map(async (e) => {
          const abs = path.join(dir.abs, e.name);
          const rel = dir.rel ? `${dir.rel}/${e.name.normalize('NFC')}` : e.name.normalize('NFC');
          try {
            // stat follows symlinks; broken links throw and are skipped like unreadable entries
            const st = e.isSymbolicLink() || e.isDirectory() || e.isFile() ? await stat(abs) : undefined;
            return { e, abs, rel, st };
          } catch {
            return { e, abs, rel, st: undefined };
          }
        }),
      );
      for (const { e, abs, rel, st } of stats) {
        if (!st) continue;
        if (st.isDirectory()) {
          const key = await realpath(abs).catch(() => abs);
          if (seenDirs.has(key)) {
            result.symlinkRepeats.push(rel);
            continue;
          }
          seenDirs.add(key);
          next.push({ abs, rel });
        } else if (st.isFile()) {
          const ext = path.extname(e.name).toLowerCase();
          const f: WalkedFile = {
            rel,
            abs,
            size: st.size,
            mtimeMs: st.mtimeMs,
            hasImageExtension: IMAGE_EXTENSIONS.has(ext),
          };
          if (f.hasImageExtension || ext === '') result.files.push(f);
          else if (TABLE_EXTENSIONS.has(ext)) result.tables.push(f);
          else result.otherFiles++;
        }
      }
    }
    level = next;
  }
  result.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return result;
}
