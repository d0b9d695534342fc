/**
 * `attune scan [--json] [--labels file --path-column c --label-column c [--group-column c]] [--no-cache] <folder>`
 * Exit codes: 0 usable dataset, 1 dataset has blocking errors, 2 bad usage or unreadable folder.
 */
import { AttuneError, isAttuneError } from '../../errors';
import { scanFolderReport } from '../../api';
import type { ScanReport } from '../../data/types';
import type { EngineEvent } from '../../events';
import { checkBandSelection, formatBandSelection, parseBandSelection } from '../../data/bands';
import { framesOption, labelsPath } from '../args';
import { describeValues, DEFAULT_VALUES, parseWindow, type ValueMapping } from '../../preprocessing';

const USAGE =
  'usage: attune scan [--json] [--no-cache] [--cache-dir dir] [--labels file --path-column c --label-column c [--group-column c]]\n  [--window file|lung|mediastinum|bone|brain|percentile|image-percentile|C,W] [--value-offset N] [--bands R,G,B|all] [--frames middle|all] <folder>';

interface ScanArgs {
  folder?: string;
  json: boolean;
  noCache: boolean;
  cacheDir?: string;
  labels?: string;
  pathColumn?: string;
  labelColumn?: string;
  groupColumn?: string;
  window?: string;
  valueOffset?: string;
  bands?: string;
  frames?: string;
}

function parseArgs(argv: string[]): ScanArgs | string {
  const a: ScanArgs = { json: false, noCache: false };
  const valued: Record<string, keyof ScanArgs> = {
    '--labels': 'labels',
    '--path-column': 'pathColumn',
    '--label-column': 'labelColumn',
    '--group-column': 'groupColumn',
    '--cache-dir': 'cacheDir',
    '--window': 'window',
    '--value-offset': 'valueOffset',
    '--bands': 'bands',
    '--frames': 'frames',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
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
function reportToJson(r: ScanReport): Record<string, unknown> {
  const { items: _items, ...rest } = r;
  return rest;
}

function formatReport(r: ScanReport): string {
  const lines: string[] = [];
  const layout =
    r.layout.kind === 'split-folders'
      ? `split folders (${Object.entries(r.layout.splitFolders ?? {})
          .map(([s, d]) => `${s}: ${d}/`)
          .join(', ')})`
      : r.layout.kind === 'labels-file'
        ? `labels file ${r.layout.labelsFile} (path: ${r.layout.columns?.path}, label: ${r.layout.columns?.label}${r.layout.columns?.group ? `, group: ${r.layout.columns.group}` : ''})`
        : 'one folder per class';
  lines.push(
    `${r.root}`,
    `  layout: ${layout}`,
    `  ${r.total} usable images in ${r.classes.length} classes${r.fromCache ? ' (cached scan)' : ''}`,
  );
  if (r.splits)
    lines.push(
      `  splits: ${Object.entries(r.splits)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ')}`,
    );
  const w = Math.max(5, ...r.classes.map((c) => c.name.length));
  lines.push('', '  class'.padEnd(w + 2) + '  images' + (r.splits ? '  per split' : ''));
  for (const c of r.classes) {
    lines.push(
      `  ${c.name.padEnd(w)}  ${String(c.count).padStart(6)}${
        c.splits
          ? `  ${Object.entries(c.splits)
              .map(([s, n]) => `${s} ${n}`)
              .join(', ')}`
          : ''
      }`,
    );
  }
  const im = r.images;
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  lines.push('', `  formats: ${fmt(im.formats)}; channels: ${fmt(im.channels)}; bit depth: ${fmt(im.bitDepths)}`);
  lines.push(
    `  size: width ${im.width.min}–${im.width.max} (median ${im.width.median}), height ${im.height.min}–${im.height.max} (median ${im.height.median})`,
  );
  if (r.groups)
    lines.push(
      `  groups: ${r.groups} (${r.dicom || r.layout.columns?.group ? 'patients or groups' : 'groups'}; each stays on one side of the split)`,
    );
  const d = r.dicom;
  if (d) {
    lines.push(
      '',
      `  DICOM: ${d.files} files, ${d.patients} patients${d.patientsInSeveralClasses ? ` (${d.patientsInSeveralClasses} in more than one class)` : ''}`,
    );
    lines.push(`    modality: ${fmt(d.modalities)}; body part: ${fmt(d.bodyParts)}`);
    lines.push(`    rows×columns: ${fmt(d.sizes)}; bits stored: ${fmt(d.bitsStored)}`);
    lines.push(`    photometric: ${fmt(d.photometric)}; transfer syntax: ${fmt(d.transferSyntaxes)}`);
    lines.push(
      `    own window (WindowCenter/Width): ${d.withWindow} of ${d.files}${d.multiFrameFiles ? `; multi-frame files: ${d.multiFrameFiles} (${r.items.some((i) => i.frame !== undefined) ? 'every frame a sample' : 'middle frame used; --frames all for every frame'})` : ''}`,
    );
  }
  const b = r.bands;
  if (b) {
    lines.push(
      '',
      `  multispectral: ${b.files} files, ${b.bands} bands (${fmt(b.sampleTypes)}; nodata: ${fmt(b.nodata)})${b.mismatched ? `; ${b.mismatched} files with another band count left out` : ''}`,
    );
  }
  const errors = r.issues.filter((i) => i.severity === 'error');
  const warnings = r.issues.filter((i) => i.severity === 'warning');
  if (errors.length) lines.push('', `  errors (${errors.length}):`, ...errors.map((i) => `    ✗ ${i.message}`));
  if (warnings.length) lines.push('', `  warnings (${warnings.length}):`, ...warnings.map((i) => `    ! ${i.message}`));
  if (r.problems.length) {
    const excluded = r.problems.filter((p) => p.excluded).length;
    lines.push('', `  file problems (${r.problems.length}, ${excluded} files left out):`);
    const shown = r.problems.slice(0, 50);
    for (const p of shown) lines.push(`    ${p.kind.padEnd(22)} ${p.file}: ${p.message}`);
    if (r.problems.length > shown.length)
      lines.push(`    … ${r.problems.length - shown.length} more (use --json for all)`);
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
      const columns =
        args.pathColumn || args.labelColumn || args.groupColumn
          ? { path: args.pathColumn, label: args.labelColumn, group: args.groupColumn }
          : undefined;
      const showProgress = !args.json && process.stderr.isTTY;
      const progress = (e: EngineEvent) => {
        if (e.type !== 'progress') return;
        const what = e.phase === 'scan:duplicates' ? 'checking duplicates' : 'reading headers';
        process.stderr.write(`\r  ${what} ${e.done}/${e.total}   `);
      };
      const report = await scanFolderReport(
        args.folder!,
        {
          csvPath: labelsPath(args.labels, args.folder!),
          columns,
          cache: !args.noCache,
          frames: framesOption(args.frames),
          cacheDir: args.cacheDir,
        },
        showProgress ? progress : undefined,
      );
      if (showProgress) process.stderr.write('\r\x1b[K');
      // the value mapping a training run would use, checked against what the scan found
      const values: ValueMapping = {
        ...DEFAULT_VALUES,
        ...(args.window ? { voi: parseWindow(args.window) } : {}),
        ...(args.valueOffset !== undefined ? { offset: Number(args.valueOffset) } : {}),
      };
      if (!Number.isFinite(values.offset))
        throw new AttuneError(
          'usage',
          `--value-offset must be a number, not "${args.valueOffset}".`,
          'E.g. --value-offset 32768 for HU + 32768 data.',
        );
      const selection = args.bands ? parseBandSelection(args.bands, report.bands?.bands) : undefined;
      if (selection && !report.bands)
        throw new AttuneError(
          'usage',
          'The dataset has no multispectral images; --bands does not apply.',
          'Leave out --bands.',
        );
      if (selection && report.bands) checkBandSelection(selection, report.bands.bands);
      const valueMapping = {
        ...values,
        ...(selection && report.bands ? { bands: { selection, bandCount: report.bands.bands } } : {}),
      };
      const deep = report.items.some((i) => i.bitDepth > 8) || !!report.bands;
      if (args.json)
        process.stdout.write(
          `${JSON.stringify({ ...reportToJson(report), ...(deep || args.window || selection ? { valueMapping } : {}) })}\n`,
        );
      else {
        const extra = deep
          ? `\n\n  value mapping: ${describeValues(valueMapping)}${selection ? ` (bands ${formatBandSelection(selection)})` : ''}`
          : '';
        process.stdout.write(`${formatReport(report)}${extra}\n`);
      }
      return report.issues.some((i) => i.severity === 'error') ? 1 : 0;
    } catch (err) {
      if (isAttuneError(err)) {
        if (args.json)
          process.stdout.write(
            `${JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint } })}\n`,
          );
        else process.stderr.write(`error: ${err.message}\n  ${err.hint}\n`);
        return 2;
      }
      throw err;
    }
  },
};
