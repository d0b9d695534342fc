/**
 * The user's corrections to their dataset, kept in the project (never written into the data folder): images to
 * leave out, and images whose label is wrong. Applied to the scanned items and to a saved split alike.
 */
import { AttuneError } from '../errors';

export interface DataOverrides {
  /** files (relative to the dataset root, '/'-separated) to leave out */
  exclude?: string[];
  /** file (relative, '/'-separated) → the correct class, one of the dataset's classes */
  relabel?: Record<string, string>;
}

/** Whether `o` corrects anything. */
export function hasOverrides(o: DataOverrides | undefined): o is DataOverrides {
  return !!o && (!!o.exclude?.length || Object.keys(o.relabel ?? {}).length > 0);
}

/** Items without the excluded files and with corrected labels; a relabel to an unknown class is refused. */
export function applyOverrides<T extends { file: string; label: string }>(
  items: T[],
  o: DataOverrides | undefined,
  classes: readonly string[],
): T[] {
  if (!hasOverrides(o)) return items;
  const known = new Set(classes);
  for (const [file, label] of Object.entries(o.relabel ?? {})) {
    if (!known.has(label)) {
      throw new AttuneError(
        'override-unknown-class',
        `The correction for ${file} names the class "${label}", which the dataset does not have.`,
        `Relabel it as one of: ${classes.join(', ')}.`,
      );
    }
  }
  const out = new Set(o.exclude ?? []);
  const relabel = new Map(Object.entries(o.relabel ?? {}));
  return items
    .filter((i) => !out.has(i.file))
    .map((i) => (relabel.has(i.file) ? { ...i, label: relabel.get(i.file)! } : i));
}
