/**
 * File access is limited to what the user chose: folders and files picked in dialogs or dropped,
 * plus the workspace and the model cache. Every path-taking handler checks here.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { AttuneError } from '../ipc/errors';

export class AllowList {
  private roots = new Set<string>();

  allow(path: string): string {
    const p = resolve(path);
    this.roots.add(p);
    return p;
  }

  isAllowed(path: string): boolean {
    if (!isAbsolute(path)) return false;
    const p = resolve(path);
    for (const root of this.roots) {
      if (p === root) return true;
      const rel = relative(root, p);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..')) return true;
    }
    return false;
  }

  check(path: string): string {
    if (!this.isAllowed(path)) {
      throw new AttuneError(
        'not-allowed',
        'Attune can only open files and folders you chose.',
        'Choose the folder or file again with the button or by dropping it onto the window.',
      );
    }
    return resolve(path);
  }

  list(): string[] {
    return [...this.roots];
  }
}
