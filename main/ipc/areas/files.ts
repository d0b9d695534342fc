/**
 * Browser mode's in-app file browser: lists folders (and files of the asked kinds) under the user's allowed roots
 * only. Symbolic links are resolved before the check, so a link cannot lead outside them.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Handlers } from '../handler-context';
import { AttuneError } from '../errors';

const outsideRoots = () =>
  new AttuneError(
    'outside-roots',
    'That location is outside the folders Attune may show.',
    'Pick a folder inside one of the listed places, or restart Attune with --root <folder> to add one.',
  );

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!!rel && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'));
}

/** `path` resolved (links followed) if it lies under one of the browse roots; otherwise an 'outside-roots' error. */
export async function withinRoots(roots: string[], path: string): Promise<string> {
  if (!isAbsolute(path)) throw outsideRoots();
  const real = await realpath(path).catch(() => {
    throw new AttuneError('not-found', `${path} does not exist.`, 'Check the spelling, or pick it from the list.');
  });
  for (const root of roots) {
    const r = await realpath(root).catch(() => null);
    if (r && inside(r, real)) return real;
  }
  throw outsideRoots();
}

export const fileHandlers = {
  async 'files:list'(req, ctx) {
    if (ctx.transport !== 'browser')
      throw new AttuneError(
        'not-available',
        'The in-app file browser is for browser mode.',
        'Use the Choose buttons: they open the system dialog.',
      );
    if (!req.path)
      return {
        path: null,
        parent: null,
        entries: ctx.browseRoots.map((r) => ({ name: r, path: r, kind: 'folder' as const })),
      };
    const dir = await withinRoots(ctx.browseRoots, req.path);
    if (!(await stat(dir)).isDirectory())
      throw new AttuneError('not-a-folder', `${basename(dir)} is a file, not a folder.`, 'Pick a folder.');
    const exts = req.extensions?.map((e) => `.${e.toLowerCase()}`);
    const entries = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => !d.name.startsWith('.'))
      .filter(
        (d) =>
          d.isDirectory() || (req.files && d.isFile() && (!exts || exts.some((x) => d.name.toLowerCase().endsWith(x)))),
      )
      .map((d) => ({
        name: d.name,
        path: join(dir, d.name),
        kind: d.isDirectory() ? ('folder' as const) : ('file' as const),
      }))
      .sort((a, b) =>
        a.kind === b.kind ? a.name.localeCompare(b.name, undefined, { numeric: true }) : a.kind === 'folder' ? -1 : 1,
      )
      .slice(0, 2000);
    const isRoot = await Promise.all(ctx.browseRoots.map(async (r) => (await realpath(r).catch(() => r)) === dir));
    return { path: dir, parent: isRoot.some(Boolean) ? null : dirname(dir), entries };
  },
} satisfies Partial<Handlers>;
