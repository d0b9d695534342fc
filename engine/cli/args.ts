/** Small flag parser shared by the commands: --name value, --name=value, boolean --flag, positionals. */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { AttuneError } from '../errors';
import { parseBandSelection, type BandSelection } from '../data/bands';
import { parseWindow, type VoiRule } from '../preprocessing';

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

export function parseFlags(argv: string[], booleans: ReadonlySet<string>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (booleans.has(name)) flags.set(name, true);
    else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--'))
        throw new AttuneError('usage', `--${name} needs a value.`, `Write --${name} <value>.`);
      flags.set(name, v);
      i++;
    }
  }
  return { flags, positionals };
}

export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function num(
  p: ParsedArgs,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (
    !Number.isFinite(n) ||
    (opts.integer && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min) ||
    (opts.max !== undefined && n > opts.max)
  )
    throw new AttuneError(
      'usage',
      `--${name} must be ${opts.integer ? 'a whole number' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.max !== undefined ? ` ≤ ${opts.max}` : ''}, not "${v}".`,
      `Fix --${name} and run again.`,
    );
  return n;
}

export function required(p: ParsedArgs, name: string, usage: string): string {
  const v = str(p, name);
  if (!v) throw new AttuneError('usage', `--${name} is required.`, usage);
  return v;
}

export function rejectUnknown(p: ParsedArgs, known: ReadonlySet<string>, usage: string): void {
  for (const k of p.flags.keys()) if (!known.has(k)) throw new AttuneError('usage', `Unknown option --${k}.`, usage);
}

/** Flags of the value mapping shared by scan, train and predict. */
export const VALUE_FLAGS = ['window', 'value-offset', 'bands'] as const;
export const VALUE_USAGE =
  '[--window file|lung|mediastinum|bone|brain|percentile|image-percentile|C,W] [--value-offset N] [--bands R,G,B|all]';

/** --window, --value-offset and --bands, parsed (undefined when absent). */
export function valueOptions(p: ParsedArgs): { window?: VoiRule; valueOffset?: number; bands?: BandSelection } {
  const w = str(p, 'window');
  const b = str(p, 'bands');
  return {
    ...(w !== undefined ? { window: parseWindow(w) } : {}),
    ...(p.flags.has('value-offset') ? { valueOffset: num(p, 'value-offset') } : {}),
    ...(b !== undefined ? { bands: parseBandSelection(b) } : {}),
  };
}

/**
 * --labels as a user means it: relative to the working directory, like every other path on the command line; a file
 * that is not there but is in the data folder (`--labels labels.csv` beside the images) is found there, as before.
 */
export function labelsPath(file: string | undefined, dataDir: string): string | undefined {
  if (file === undefined) return undefined;
  const here = resolve(file);
  return existsSync(here) || isAbsolute(file) ? here : resolve(dataDir, file);
}

/** --frames: how multi-frame DICOM files become samples. */
export function framesOption(v: string | undefined): 'middle' | 'all' | undefined {
  if (v === undefined || v === 'middle' || v === 'all') return v;
  throw new AttuneError(
    'usage',
    `--frames ${JSON.stringify(v)} is not middle or all.`,
    'Use --frames middle (one sample per file, default) or --frames all (every frame its own sample).',
  );
}
