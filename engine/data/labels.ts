/**
 * Labels from a CSV/TSV file: parsing (RFC 4180 quoting, BOM, CRLF), column detection, and
 * resolving each row's path to an image under the root — relative path, absolute path, bare file
 * name, or an id without extension (`ISIC_0027419` → `ISIC_0027419.jpg`, as in HAM10000).
 */
import path from 'node:path';
import { AttuneError } from '../errors';
import type { WalkedFile } from './walk';

export interface LabelColumns {
  path: string;
  label: string;
  group?: string;
}

export interface LabelRow {
  /** 1-based line number in the file (header = 1) */
  line: number;
  path: string;
  label: string;
  group?: string;
}

/** Splits delimited text into rows of fields. */
export function parseDelimited(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === delimiter) {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || (r.length === 1 && r[0].trim() !== ''));
}

export function guessDelimiter(file: string, firstLine: string): string {
  if (file.toLowerCase().endsWith('.tsv')) return '\t';
  const counts = ['\t', ',', ';'].map((d) => [d, firstLine.split(d).length] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0][1] > 1 ? counts[0][0] : ',';
}

const PATH_NAMES = [
  'path',
  'filepath',
  'file_path',
  'file',
  'filename',
  'file_name',
  'image',
  'image_path',
  'imagepath',
  'image_id',
  'imageid',
  'img',
  'image_name',
  'id',
  'name',
];
const LABEL_NAMES = [
  'label',
  'labels',
  'class',
  'class_name',
  'classname',
  'category',
  'target',
  'dx',
  'diagnosis',
  'y',
];
const GROUP_NAMES = [
  'group',
  'group_id',
  'patient',
  'patient_id',
  'patientid',
  'subject',
  'subject_id',
  'lesion_id',
  'study_id',
  'case_id',
  'case',
];

function pick(header: string[], names: string[]): string | undefined {
  const lower = header.map((h) => h.trim().toLowerCase());
  for (const n of names) {
    const i = lower.indexOf(n);
    if (i >= 0) return header[i].trim();
  }
  return undefined;
}

/** The columns among `header` with the usual names (each a different column). */
function recognised(header: string[]): Partial<LabelColumns> {
  const p = pick(header, PATH_NAMES);
  const l = pick(header, LABEL_NAMES);
  const g = pick(header, GROUP_NAMES);
  return {
    ...(p ? { path: p } : {}),
    ...(l && l !== p ? { label: l } : {}),
    ...(g && g !== p && g !== l ? { group: g } : {}),
  };
}

/** Recognises the usual column names; undefined when no path or label column is recognisable. */
export function detectColumns(header: string[]): LabelColumns | undefined {
  const r = recognised(header);
  return r.path && r.label ? { path: r.path, label: r.label, group: r.group } : undefined;
}

export interface ParsedLabels {
  columns: LabelColumns;
  rows: LabelRow[];
  /** rows with an empty path or label */
  badRows: { line: number; message: string }[];
}

/** The header line, whose separators tell the table's delimiter. */
const firstLineOf = (text: string): string => text.slice(0, text.search(/\r?\n|$/));

/** A labels table's columns and the ones recognised, from its first line (the app's column choice). */
export function labelsHeader(file: string, text: string): { header: string[]; detected: Partial<LabelColumns> } {
  const firstLine = firstLineOf(text);
  const header = (parseDelimited(firstLine, guessDelimiter(file, firstLine))[0] ?? []).map((h) => h.trim());
  return { header, detected: recognised(header) };
}

/** Parses a labels table, with `columns` given (names must exist) or detected. */
export function parseLabels(file: string, text: string, columns?: Partial<LabelColumns>): ParsedLabels {
  const firstLine = firstLineOf(text);
  const rows = parseDelimited(text, guessDelimiter(file, firstLine));
  if (rows.length === 0)
    throw new AttuneError('labels-empty', `${file} is empty.`, 'Provide a CSV with a header row, e.g. "path,label".');
  const header = rows[0].map((h) => h.trim());
  const detected = detectColumns(header);
  const cols: Partial<LabelColumns> = {
    ...detected,
    ...Object.fromEntries(Object.entries(columns ?? {}).filter(([, v]) => v)),
  };
  for (const key of ['path', 'label', 'group'] as const) {
    const name = cols[key];
    if (name !== undefined && !header.includes(name)) {
      throw new AttuneError(
        'labels-column',
        `${file} has no column "${name}" (columns: ${header.join(', ')}).`,
        `Choose the ${key} column among these (the Data screen's column choice; attune: --${key}-column).`,
        { file, header },
      );
    }
  }
  if (!cols.path || !cols.label) {
    throw new AttuneError(
      'labels-column',
      `Cannot tell which columns of ${file} hold the image path and the label (columns: ${header.join(', ')}).`,
      'Choose them on the Data screen (attune: --path-column and --label-column).',
      { file, header },
    );
  }
  const ip = header.indexOf(cols.path);
  const il = header.indexOf(cols.label);
  const ig = cols.group ? header.indexOf(cols.group) : -1;
  const out: LabelRow[] = [];
  const badRows: ParsedLabels['badRows'] = [];
  for (let r = 1; r < rows.length; r++) {
    const p = (rows[r][ip] ?? '').trim();
    const l = (rows[r][il] ?? '').trim();
    if (!p || !l) {
      badRows.push({ line: r + 1, message: `line ${r + 1}: empty ${!p ? cols.path : cols.label}` });
      continue;
    }
    const g = ig >= 0 ? (rows[r][ig] ?? '').trim() : '';
    out.push({ line: r + 1, path: p, label: l, group: g || undefined });
  }
  return { columns: { path: cols.path, label: cols.label, group: cols.group }, rows: out, badRows };
}

export type Resolution = { ok: true; file: WalkedFile } | { ok: false; kind: 'missing' | 'ambiguous'; message: string };

/** Index of walked files by relative path, base name and stem, for resolving label rows. */
export class FileIndex {
  private byRel = new Map<string, WalkedFile>();
  private byRelLower = new Map<string, WalkedFile[]>();
  private byBase = new Map<string, WalkedFile[]>();
  private byStem = new Map<string, WalkedFile[]>();

  constructor(
    private root: string,
    files: WalkedFile[],
  ) {
    const push = (m: Map<string, WalkedFile[]>, k: string, f: WalkedFile) => {
      const xs = m.get(k);
      if (xs) xs.push(f);
      else m.set(k, [f]);
    };
    for (const f of files) {
      this.byRel.set(f.rel, f);
      push(this.byRelLower, f.rel.toLowerCase(), f);
      const base = f.rel.slice(f.rel.lastIndexOf('/') + 1);
      push(this.byBase, base, f);
      const dot = base.lastIndexOf('.');
      const stem = dot > 0 ? base.slice(0, dot) : base;
      push(this.byStem, stem, f);
      // ids are sometimes given with their relative folder but without extension; for a file at the
      // top of the root that key is its stem, already indexed (twice would make it "ambiguous" with itself)
      const relDot = f.rel.lastIndexOf('.');
      if (relDot > f.rel.lastIndexOf('/') && f.rel.slice(0, relDot) !== stem)
        push(this.byStem, f.rel.slice(0, relDot), f);
    }
  }

  resolve(value: string, labelsDir?: string): Resolution {
    let v = value.normalize('NFC').replace(/\\/g, '/');
    if (path.isAbsolute(v) || /^[A-Za-z]:\//.test(v)) {
      const rel = path.relative(this.root, v).split(path.sep).join('/');
      if (rel.startsWith('..'))
        return { ok: false, kind: 'missing', message: `${value} is outside the dataset folder` };
      v = rel;
    }
    v = v.replace(/^\.\//, '');
    const candidates = [v];
    if (labelsDir) {
      const viaLabels = path.relative(this.root, path.resolve(labelsDir, v)).split(path.sep).join('/');
      if (!viaLabels.startsWith('..')) candidates.push(viaLabels);
    }
    for (const c of candidates) {
      const hit = this.byRel.get(c);
      if (hit) return { ok: true, file: hit };
    }
    for (const c of candidates) {
      const hits = this.byRelLower.get(c.toLowerCase());
      if (hits?.length === 1) return { ok: true, file: hits[0] };
    }
    const one = (xs: WalkedFile[] | undefined, what: string): Resolution | undefined => {
      if (!xs || xs.length === 0) return undefined;
      if (xs.length === 1) return { ok: true, file: xs[0] };
      return {
        ok: false,
        kind: 'ambiguous',
        message: `${value} matches ${xs.length} files by ${what}: ${xs
          .slice(0, 3)
          .map((f) => f.rel)
          .join(', ')}${xs.length > 3 ? ', …' : ''}`,
      };
    };
    return (
      one(this.byBase.get(v.slice(v.lastIndexOf('/') + 1)), 'name') ??
      one(this.byStem.get(v), 'name without extension') ?? {
        ok: false,
        kind: 'missing',
        message: `no image found for "${value}"`,
      }
    );
  }
}
