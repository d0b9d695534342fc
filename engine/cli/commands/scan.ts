/**
 * `attune scan [--json] [--labels file --path-column c --label-column c [--group-column c]] [--no-cache] <folder>`
 * Exit codes: 0 usable dataset, 1 dataset has blocking errors, 2 bad usage or unreadable folder.
 */
import { isAttuneError } from '../../errors';
import { scanDataset } from '../../data/scan';
import type { ScanReport } from '../../data/types';

const USAGE = 'usage: attune scan [--json] [--no-cache] [--cache-dir dir] [--labels file --path-column c --label-column c [--group-column c]] <folder>';

interface ScanArgs {
  folder?: string;
  json: boolean;
  noCache: boolean;
  cacheDir?: string;
  labels?: string;
  pathColumn?: string;
  labelColumn?: string;
  groupColumn?: string;
}

function parseArgs(argv: string[]): ScanArgs | string {
  const a: ScanArgs = { json: false, noCache: false };
  const valued: Record<string, keyof ScanArgs> = {
    '--labels': 'labels', '--path-column': 'pathColumn', '--label-column': 'labelColumn', '--group-column': 'groupColumn', '--cache-dir': 'cacheDir',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--json') a.json = true;
    else if (flag === '--no-cache') a.noCache = true;
    else if (flag === '--help' || flag === '-h') return USAGE;
    else if (flag in valued) {
      const v = inline ?? argv[++i];
      if (v === undefined) return `${flag} needs a value\n${USAGE}`;
      (a as unknown as Record<string, string>)[valued[flag]] = v;
    } else if (flag.startsWith('--')) return `unknown option ${flag}\n${USAGE}`;
    else if (a.folder) return `only one folder can be scanned at a time\n${USAGE}`;
    else a.folder = arg;
  }
  if (!a.folder) return USAGE;
  return a;
}

/** The --json shape: the report without the per-image index, which can be large. */
export function reportToJson(r: ScanReport): Record<string, unknown> {
  const { items: _items, ...rest } = r;
  return rest;
}

export function formatReport(r: ScanReport): string {
  const lines: string[] = [];
  const layout =
    r.layout.kind === 'split-folders'
      ? `split folders (${Object.entries(r.layout.splitFolders ?? {}).map(([s, d]) => `${s}: ${d}/`).join(', ')})`
      : r.layout.kind === 'labels-file'
        ? `labels file ${r.layout.labelsFile} (path: ${r.layout.columns?.path}, label: ${r.layout.columns?.label}${r.layout.columns?.group ? `, group: ${r.layout.columns.group}` : ''})`
        : 'one folder per class';
  lines.push(`${r.root}`, `  layout: ${layout}`, `  ${r.total} usable images in ${r.classes.length} classes${r.fromCache ? ' (cached scan)' : ''}`);
  if (r.splits) lines.push(`  splits: ${Object.entries(r.splits).map(([s, n]) => `${s} ${n}`).join(', ')}`);
  const w = Math.max(5, ...r.classes.map((c) => c.name.length));
  lines.push('', '  class'.padEnd(w + 2) + '  images' + (r.splits ? '  per split' : ''));
  for (const c of r.classes) {
    lines.push(`  ${c.name.padEnd(w)}  ${String(c.count).padStart(6)}${c.splits ? `  ${Object.entries(c.splits).map(([s, n]) => `${s} ${n}`).join(', ')}` : ''}`);
  }
  const im = r.images;
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push('', `  formats: ${fmt(im.formats)}; channels: ${fmt(im.channels)}; bit depth: ${fmt(im.bitDepths)}`);
  lines.push(`  size: width ${im.width.min}–${im.width.max} (median ${im.width.median}), height ${im.height.min}–${im.height.max} (median ${im.height.median})`);
  const errors = r.issues.filter((i) => i.severity === 'error');
  const warnings = r.issues.filter((i) => i.severity === 'warning');
  if (errors.length) lines.push('', `  errors (${errors.length}):`, ...errors.map((i) => `    ✗ ${i.message}`));
  if (warnings.length) lines.push('', `  warnings (${warnings.length}):`, ...warnings.map((i) => `    ! ${i.message}`));
  if (r.problems.length) {
    const excluded = r.problems.filter((p) => p.excluded).length;
    lines.push('', `  file problems (${r.problems.length}, ${excluded} files left out):`);
    const shown = r.problems.slice(0, 50);
    for (const p of shown) lines.push(`    ${p.kind.padEnd(22)} ${p.file}: ${p.message}`);
    if (r.problems.length > shown.length) lines.push(`    … ${r.problems.length - shown.length} more (use --json for all)`);
  }
  if (!errors.length && !r.problems.length && !warnings.length) lines.push('', '  no problems found');
  return lines.join('\n');
}

export const scanCommand = {
  name: 'scan',
  usage: USAGE,
  summary: 'Check a labelled image folder: classes, layout, splits, image formats and problems',
  run: async (argv: string[]): Promise<number> => {
    const args = parseArgs(argv);
    if (typeof args === 'string') {
      (args === USAGE ? process.stdout : process.stderr).write(`${args}\n`);
      return args === USAGE && argv.some((x) => x === '--help' || x === '-h') ? 0 : 2;
    }
    try {
      const columns = args.pathColumn || args.labelColumn || args.groupColumn ? { path: args.pathColumn, label: args.labelColumn, group: args.groupColumn } : undefined;
      const showProgress = !args.json && process.stderr.isTTY;
      const report = await scanDataset(args.folder!, {
        labels: args.labels,
        columns,
        cache: !args.noCache,
        cacheDir: args.cacheDir,
        onEvent: showProgress ? (e) => { if (e.type === 'progress') process.stderr.write(`\r  ${e.phase === 'scan:duplicates' ? 'checking duplicates' : 'reading headers'} ${e.done}/${e.total}   `); } : undefined,
      });
      if (showProgress) process.stderr.write('\r\x1b[K');
      process.stdout.write(args.json ? `${JSON.stringify(reportToJson(report))}\n` : `${formatReport(report)}\n`);
      return report.issues.some((i) => i.severity === 'error') ? 1 : 0;
    } catch (err) {
      if (isAttuneError(err)) {
        if (args.json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint } })}\n`);
        else process.stderr.write(`error: ${err.message}\n  ${err.hint}\n`);
        return 2;
      }
      throw err;
    }
  },
};
