/**
 * Dataset scan: which images, which labels, which layout, and everything wrong with them, from
 * headers and file tails only (no full decode), cached by a fingerprint of the folder. The dataset
 * folder is only ever read.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { AttuneError, isAttuneError } from '../errors';
import { writeFileAtomic } from '../util/fs';
import type { EventSink } from '../events';
import { checkMetadata, describeDecodeError, isMultispectralTiff, MAX_INPUT_PIXELS } from './decode';
import { FileIndex, parseLabels, detectColumns, labelsHeader, type LabelColumns } from './labels';
import { mapPool } from './pool';
import { DECODABLE_FORMATS, formatFromExtension, probeFile, unsupportedReason } from './sniff';
import { readDicomHeader } from './dicom';
import { transferSyntax } from './dicom/syntax';
import { readRasterHeader } from './geotiff';
import { isSentinel2Raster } from './bands';
import { isPatientColumn, loadSalt, pseudonym } from './privacy';
import { framelessPath, frameItemPath, isDicomHead, readHead } from './source';
import type {
  BandSummary,
  ClassSummary,
  DicomFacts,
  DicomSummary,
  DuplicateSet,
  ImageSummary,
  Layout,
  RasterFacts,
  ScanIssue,
  ScanItem,
  ScanProblem,
  ScanReport,
  SplitName,
} from './types';
import { isHiddenName, walkDataset, type WalkedFile } from './walk';

export const SCAN_VERSION = 3;

const SPLIT_ORDER: readonly SplitName[] = ['train', 'val', 'test'];

export interface ScanOptions {
  /** a CSV/TSV of labels (absolute, or relative to the dataset root) */
  labels?: string;
  columns?: Partial<LabelColumns>;
  /** cached reports' folder; default $ATTUNE_CACHE_DIR/scans or ~/.cache/attune/scans. Must be outside the dataset. */
  cacheDir?: string;
  /** false: always rescan */
  cache?: boolean;
  onEvent?: EventSink;
  /** multi-frame DICOM: one sample per file from its middle frame (default), or one per frame (grouped by file) */
  frames?: 'middle' | 'all';
  /** files probed in parallel; default 16 (sharp reads headers on libuv threads) */
  concurrency?: number;
}

/** Below this a class cannot be split; below the next it is flagged. */
export const MIN_CLASS_IMAGES = 2;
export const FEW_CLASS_IMAGES = 10;
/** largest/smallest class ratio from which imbalance is reported */
export const IMBALANCE_RATIO = 3;

const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  trn: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  dev: 'val',
  test: 'test',
  testing: 'test',
  tst: 'test',
};

export function defaultCacheDir(): string {
  return path.join(process.env.ATTUNE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'attune'), 'scans');
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

interface Labelled {
  file: WalkedFile;
  label: string;
  split?: SplitName;
  group?: string;
}

interface LayoutResult {
  layout: Layout;
  labelled: Labelled[];
  problems: ScanProblem[];
  emptyClasses: string[];
}

/** Decides the layout and assigns a label (and split, group) to each walked file. */
async function assignLabels(
  root: string,
  files: WalkedFile[],
  tables: WalkedFile[],
  opts: ScanOptions,
): Promise<LayoutResult> {
  const problems: ScanProblem[] = [];
  const topDirs = new Map<string, WalkedFile[]>();
  const rootFiles: WalkedFile[] = [];
  for (const f of files) {
    const slash = f.rel.indexOf('/');
    if (slash < 0) rootFiles.push(f);
    else {
      const top = f.rel.slice(0, slash);
      const xs = topDirs.get(top);
      if (xs) xs.push(f);
      else topDirs.set(top, [f]);
    }
  }

  // 1. labels file, given or found at the root with recognisable columns
  let labelsFile = opts.labels ? path.resolve(root, opts.labels) : undefined;
  if (!labelsFile) {
    for (const t of tables.filter((t) => !t.rel.includes('/'))) {
      if (detectColumns(labelsHeader(t.abs, await readFile(t.abs, 'utf8')).header)) {
        labelsFile = t.abs;
        break;
      }
    }
  }
  if (labelsFile) {
    let text: string;
    try {
      text = await readFile(labelsFile, 'utf8');
    } catch (err) {
      throw new AttuneError(
        'labels-unreadable',
        `Cannot read the labels file ${labelsFile}.`,
        'Check the path given with --labels.',
        { cause: String(err) },
      );
    }
    const parsed = parseLabels(labelsFile, text, opts.columns);
    const index = new FileIndex(root, files);
    const seen = new Map<string, Labelled>();
    for (const bad of parsed.badRows)
      problems.push({ file: path.basename(labelsFile), kind: 'bad-row', message: bad.message, excluded: true });
    for (const row of parsed.rows) {
      const r = index.resolve(row.path, path.dirname(labelsFile));
      if (!r.ok) {
        problems.push({
          file: row.path,
          kind: r.kind,
          message: `${path.basename(labelsFile)} line ${row.line}: ${r.message}`,
          excluded: true,
        });
        continue;
      }
      const prev = seen.get(r.file.rel);
      if (prev) {
        if (prev.label !== row.label) {
          problems.push({
            file: r.file.rel,
            kind: 'ambiguous',
            message: `listed twice with different labels ("${prev.label}" and "${row.label}", line ${row.line}); the first is used`,
            excluded: false,
          });
        }
        continue;
      }
      seen.set(r.file.rel, { file: r.file, label: row.label.normalize('NFC'), group: row.group });
    }
    for (const f of files) {
      if (!seen.has(f.rel) && f.hasImageExtension) {
        problems.push({
          file: f.rel,
          kind: 'unlabelled',
          message: `not listed in ${path.basename(labelsFile)}; not used`,
          excluded: true,
        });
      }
    }
    const layout: Layout = {
      kind: 'labels-file',
      labelsFile: path.relative(root, labelsFile).startsWith('..')
        ? labelsFile
        : path.relative(root, labelsFile).split(path.sep).join('/'),
      columns: parsed.columns,
    };
    return { layout, labelled: [...seen.values()], problems, emptyClasses: [] };
  }

  const unlabelled = (f: WalkedFile, why: string) => {
    if (f.hasImageExtension) problems.push({ file: f.rel, kind: 'unlabelled', message: why, excluded: true });
  };

  // 2. split folders holding class folders
  const splitDirs = new Map<SplitName, string>();
  for (const dir of topDirs.keys()) {
    const s = SPLIT_ALIASES[dir.toLowerCase()];
    if (s && !splitDirs.has(s) && topDirs.get(dir)!.some((f) => f.rel.split('/').length >= 3)) splitDirs.set(s, dir);
  }
  if (splitDirs.size >= 2 || (splitDirs.size === 1 && topDirs.size === 1)) {
    const dirToSplit = new Map([...splitDirs].map(([s, d]) => [d, s]));
    const labelled: Labelled[] = [];
    for (const [dir, xs] of topDirs) {
      const split = dirToSplit.get(dir);
      for (const f of xs) {
        const parts = f.rel.split('/');
        if (!split)
          unlabelled(
            f,
            `in "${dir}", which is not one of the split folders (${[...splitDirs.values()].join(', ')}); not used`,
          );
        else if (parts.length < 3)
          unlabelled(f, `directly inside the split folder "${dir}", not in a class folder; not used`);
        else labelled.push({ file: f, label: parts[1], split });
      }
    }
    for (const f of rootFiles) unlabelled(f, 'at the top of the dataset folder, not in a class folder; not used');
    const layout: Layout = {
      kind: 'split-folders',
      splitFolders: Object.fromEntries(SPLIT_ORDER.filter((s) => splitDirs.has(s)).map((s) => [s, splitDirs.get(s)!])),
    };
    return { layout, labelled, problems, emptyClasses: [] };
  }

  // 3. one folder per class (deeper folders belong to their top folder)
  if (topDirs.size === 0) {
    throw new AttuneError(
      'no-layout',
      `No class folders, split folders or labels file found in ${root}.`,
      'Put the images of each class in their own subfolder (e.g. benign/, malignant/), or give a CSV of labels (the Data screen: Choose labels CSV…; attune: --labels).',
      { root },
    );
  }
  const labelled: Labelled[] = [];
  for (const [dir, xs] of topDirs) for (const f of xs) labelled.push({ file: f, label: dir });
  for (const f of rootFiles) unlabelled(f, 'at the top of the dataset folder, not in a class folder; not used');
  return { layout: { kind: 'class-folders' }, labelled, problems, emptyClasses: [] };
}

interface Probed {
  ok: boolean;
  format?: string;
  width?: number;
  height?: number;
  channels?: number;
  bitDepth?: number;
  dicom?: DicomFacts;
  raster?: RasterFacts;
  /** raw PatientID (else StudyInstanceUID): pseudonymised before it reaches the report, never stored */
  patient?: string;
  problems: ScanProblem[];
  /** not an image at all (extension-less non-image file): ignore silently */
  notImage?: boolean;
}

/** Header and tail checks of one file. */
async function probeOne(f: WalkedFile): Promise<Probed> {
  const problems: ScanProblem[] = [];
  let probe;
  try {
    probe = await probeFile(f.abs);
  } catch (err) {
    return {
      ok: false,
      problems: [
        {
          file: f.rel,
          kind: 'unreadable',
          message: `cannot be read: ${err instanceof Error ? err.message : String(err)}`,
          excluded: true,
        },
      ],
    };
  }
  if (probe.size === 0) {
    if (!f.hasImageExtension) return { ok: false, problems, notImage: true };
    return { ok: false, problems: [{ file: f.rel, kind: 'empty', message: 'empty file (0 bytes)', excluded: true }] };
  }
  // DICOM by content: Part 10 or a bare dataset, with or without `.dcm` (PACS exports often have no extension)
  const head = await readHead(f.abs).catch(() => new Uint8Array(0));
  if (isDicomHead(head)) return probeDicom(f);
  if (!f.hasImageExtension && probe.format === 'unknown') return { ok: false, problems, notImage: true };
  const reason = unsupportedReason(probe.format);
  if (probe.format === 'unknown') {
    return {
      ok: false,
      problems: [
        {
          file: f.rel,
          kind: 'unreadable',
          message: 'not an image: the content matches no image format (corrupt or not an image)',
          excluded: true,
        },
      ],
    };
  }
  if (reason) return { ok: false, problems: [{ file: f.rel, kind: 'unsupported', message: reason, excluded: true }] };
  const claimed = formatFromExtension(f.abs);
  if (claimed !== probe.format && DECODABLE_FORMATS.has(probe.format)) {
    problems.push({
      file: f.rel,
      kind: 'mislabelled-extension',
      message: claimed
        ? `named .${path.extname(f.abs).slice(1)} but contains ${probe.format.toUpperCase()} data; it is read as ${probe.format.toUpperCase()}`
        : `has no extension but contains ${probe.format.toUpperCase()} data`,
      excluded: false,
    });
  }
  if (!probe.complete) {
    problems.push({
      file: f.rel,
      kind: 'truncated',
      message: `the ${probe.format.toUpperCase()} end marker is missing: the file is cut short (incomplete copy or download)`,
      excluded: true,
    });
    return { ok: false, problems };
  }
  try {
    const meta = await sharp(f.abs, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).metadata();
    // multispectral: read by the GeoTIFF reader (bands are chosen at training)
    if (probe.format === 'tiff' && isMultispectralTiff(meta)) return probeRaster(f, problems);
    checkMetadata(f.abs, meta);
    const oriented = meta.orientation && meta.orientation >= 5;
    return {
      ok: true,
      format: meta.format,
      width: (oriented ? meta.height : meta.width) ?? 0,
      height: (oriented ? meta.width : meta.height) ?? 0,
      channels: meta.channels ?? 0,
      bitDepth: meta.depth === 'ushort' ? 16 : 8,
      problems,
    };
  } catch (err) {
    if (probe.format === 'tiff') {
      // sharp refuses some GeoTIFF sample types (e.g. int16, float) that the GeoTIFF reader takes
      const r = await probeRaster(f, problems);
      if (r.ok) return r;
    }
    const e = describeDecodeError(f.rel, err);
    const kind =
      e.code === 'image-too-large'
        ? 'too-large'
        : e.code.startsWith('unsupported')
          ? 'unsupported'
          : e.code === 'truncated'
            ? 'truncated'
            : 'unreadable';
    const msg = isAttuneError(err)
      ? `${err.message.replace(f.abs, '').replace(/^[:\s]+/, '')} ${err.hint}`
      : e.message.replace(`${f.rel} `, '');
    problems.push({ file: f.rel, kind, message: msg.trim(), excluded: true });
    return { ok: false, problems };
  }
}

function problemFrom(f: WalkedFile, err: unknown): ScanProblem {
  const e = describeDecodeError(f.rel, err);
  const kind =
    e.code === 'not-an-image'
      ? 'skipped'
      : e.code === 'truncated'
        ? 'truncated'
        : e.code.startsWith('unsupported')
          ? 'unsupported'
          : e.code === 'band-count'
            ? 'band-count'
            : 'unreadable';
  return { file: f.rel, kind, message: e.message.replace(f.abs, f.rel), excluded: true };
}

/** DICOM header only (no pixel decode): non-image objects (DICOMDIR, SR, …) are skipped with a reason, not errors. */
async function probeDicom(f: WalkedFile): Promise<Probed> {
  try {
    const h = await readDicomHeader(f.abs);
    if (h.kind === 'skip') {
      return {
        ok: false,
        problems: [
          { file: f.rel, kind: 'skipped', message: `skipped: ${h.skipReason ?? 'not an image'}`, excluded: true },
        ],
      };
    }
    const syntax = transferSyntax(h.transferSyntaxUid);
    if (syntax.encoding === 'unsupported') {
      return {
        ok: false,
        problems: [
          {
            file: f.rel,
            kind: 'unsupported',
            message: `encoded as ${h.transferSyntaxName}, which Attune cannot decode; convert it to an uncompressed or JPEG 2000 transfer syntax (e.g. dcmconv, gdcmconv)`,
            excluded: true,
          },
        ],
      };
    }
    // uncompressed pixel data has a known size: a file shorter than that was cut short (the header alone reads fine)
    const pixelBytes = h.rows * h.columns * h.frames * h.samplesPerPixel * Math.ceil(h.bitsAllocated / 8);
    if ((syntax.encoding === 'native' || syntax.encoding === 'native-big') && f.size < pixelBytes) {
      return {
        ok: false,
        problems: [
          {
            file: f.rel,
            kind: 'truncated',
            message: `DICOM file cut short: ${f.size} bytes cannot hold its ${h.rows}×${h.columns}${h.frames > 1 ? `×${h.frames}` : ''} pixels (${pixelBytes} bytes); copy it again from its source`,
            excluded: true,
          },
        ],
      };
    }
    const photometric = h.photometric;
    const channels = photometric.startsWith('MONOCHROME') ? 1 : 3;
    return {
      ok: true,
      format: 'dicom',
      width: h.columns,
      height: h.rows,
      channels,
      bitDepth: h.bitsStored,
      dicom: {
        ...(h.modality ? { modality: h.modality } : {}),
        ...(h.bodyPart ? { bodyPart: h.bodyPart } : {}),
        photometric,
        transferSyntax: h.transferSyntaxName,
        frames: h.frames,
        ...(h.window ? { window: h.window } : {}),
      },
      patient: h.patientId ?? h.studyInstanceUid,
      problems: [],
    };
  } catch (err) {
    return { ok: false, problems: [problemFrom(f, err)] };
  }
}

/** Multispectral TIFF: header only; the band count is checked against the dataset's after all files are read. */
async function probeRaster(f: WalkedFile, problems: ScanProblem[]): Promise<Probed> {
  try {
    const h = await readRasterHeader(f.abs);
    return {
      ok: true,
      format: 'geotiff',
      width: h.width,
      height: h.height,
      channels: h.bands,
      bitDepth: h.bitsPerSample,
      raster: {
        bands: h.bands,
        sampleType: `${h.sampleFormat}${h.bitsPerSample}`,
        ...(h.nodata !== undefined ? { nodata: h.nodata } : {}),
      },
      problems,
    };
  } catch (err) {
    return { ok: false, problems: [...problems, problemFrom(f, err)] };
  }
}

function tally<T>(xs: T[], key: (x: T) => string | undefined): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) {
    const k = key(x);
    if (k !== undefined) m[k] = (m[k] ?? 0) + 1;
  }
  return m;
}

function dicomSummary(items: ScanItem[], patientOf: Map<ScanItem, string>): DicomSummary | undefined {
  // files, not samples: with every frame a sample, a file's first frame stands for it
  const d = items.filter((i) => i.dicom && !i.frame);
  if (d.length === 0) return undefined;
  const classesOf = new Map<string, Set<string>>();
  for (const it of d) {
    const p = patientOf.get(it);
    if (!p) continue;
    const s = classesOf.get(p) ?? new Set<string>();
    s.add(it.label);
    classesOf.set(p, s);
  }
  return {
    files: d.length,
    patients: classesOf.size,
    patientsInSeveralClasses: [...classesOf.values()].filter((s) => s.size > 1).length,
    modalities: tally(d, (i) => i.dicom!.modality ?? 'unknown'),
    bodyParts: tally(d, (i) => i.dicom!.bodyPart ?? 'unknown'),
    sizes: tally(d, (i) => `${i.height}×${i.width}`),
    bitsStored: tally(d, (i) => String(i.bitDepth)),
    photometric: tally(d, (i) => i.dicom!.photometric),
    transferSyntaxes: tally(d, (i) => i.dicom!.transferSyntax),
    multiFrameFiles: d.filter((i) => i.dicom!.frames > 1).length,
    withWindow: d.filter((i) => i.dicom!.window).length,
  };
}

async function hashFile(file: string): Promise<string> {
  return createHash('sha1')
    .update(await readFile(file))
    .digest('hex');
}

function fingerprintOf(files: WalkedFile[], tables: WalkedFile[], opts: ScanOptions): string {
  const h = createHash('sha256');
  h.update(
    `v${SCAN_VERSION}\n${JSON.stringify({ labels: opts.labels ?? null, columns: opts.columns ?? null, ...(opts.frames === 'all' ? { frames: 'all' } : {}) })}\n`,
  );
  for (const f of [...files, ...tables]) h.update(`${f.rel}\t${f.size}\t${f.mtimeMs}\n`);
  return h.digest('hex');
}

function range(xs: number[]): { min: number; median: number; max: number } {
  if (xs.length === 0) return { min: 0, median: 0, max: 0 };
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

function summarise(items: ScanItem[]): ImageSummary {
  const count = (key: (i: ScanItem) => string) => {
    const m: Record<string, number> = {};
    for (const i of items) m[key(i)] = (m[key(i)] ?? 0) + 1;
    return m;
  };
  const sizes = new Map<string, { width: number; height: number; count: number }>();
  for (const i of items) {
    const k = `${i.width}x${i.height}`;
    const s = sizes.get(k);
    if (s) s.count++;
    else sizes.set(k, { width: i.width, height: i.height, count: 1 });
  }
  return {
    formats: count((i) => i.format),
    channels: count((i) => String(i.channels)),
    bitDepths: count((i) => String(i.bitDepth)),
    width: range(items.map((i) => i.width)),
    height: range(items.map((i) => i.height)),
    commonSizes: [...sizes.values()].sort((a, b) => b.count - a.count).slice(0, 5),
  };
}

/** Refuses a scan whose issues block training: the user fixes the folder, Attune does not guess around it. */
export function assertTrainable(report: ScanReport): void {
  const blocking = report.issues.filter((i) => i.severity === 'error');
  if (blocking.length)
    throw new AttuneError(
      'dataset-invalid',
      `The dataset cannot be trained on: ${blocking.map((i) => i.message).join(' ')}`,
      'Fix the folder (see `attune scan`) and try again.',
      { issues: blocking },
    );
}

/** Scans a dataset folder. Throws AttuneError when no layout can be recognised. */
export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<ScanReport> {
  const t0 = performance.now();
  const absRoot = path.resolve(root);
  const emit = opts.onEvent ?? (() => {});
  emit({ type: 'phase', phase: 'scan', detail: absRoot });
  const walked = await walkDataset(absRoot).catch((err: unknown) => {
    throw new AttuneError(
      'dataset-unreadable',
      `Cannot read the dataset folder ${absRoot}.`,
      'Check that the folder exists and that you can open it.',
      { cause: String(err) },
    );
  });
  const fingerprint = fingerprintOf(walked.files, walked.tables, opts);
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  const useCache = opts.cache !== false && !isInside(cacheDir, absRoot);
  const cacheFile = path.join(cacheDir, `${fingerprint}.json`);
  if (useCache) {
    try {
      const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as ScanReport;
      if (cached.version === SCAN_VERSION && cached.fingerprint === fingerprint) {
        emit({ type: 'progress', phase: 'scan', done: cached.total, total: cached.total, detail: 'from cache' });
        return { ...cached, root: absRoot, fromCache: true, durationMs: performance.now() - t0 };
      }
    } catch {
      // no usable cache entry: scan
    }
  }

  const { layout, labelled, problems } = await assignLabels(absRoot, walked.files, walked.tables, opts);
  for (const rel of walked.symlinkRepeats) {
    problems.push({
      file: rel,
      kind: 'symlink-loop',
      message: 'folder reached again through a symbolic link (loop or alias); its contents are counted once',
      excluded: true,
    });
  }
  // every file is probed (also unlabelled ones are not: they are already reported)
  const total = labelled.length;
  let done = 0;
  const tick = Math.max(1, Math.floor(total / 100));
  const probed = await mapPool(labelled, opts.concurrency ?? 16, async (l) => {
    const r = await probeOne(l.file);
    done++;
    if (done % tick === 0 || done === total) {
      emit({ type: 'progress', phase: 'scan', done, total });
    }
    return r;
  });

  const items: ScanItem[] = [];
  const abs = new Map<string, string>();
  // patient identifiers become salted pseudonyms here, before anything is stored (privacy.ts)
  const needsSalt = probed.some((p) => p.patient) || isPatientColumn(layout.columns?.group);
  const salt = needsSalt ? loadSalt(cacheDir) : undefined;
  const hide = (id: string) => pseudonym(id, salt!);
  const patientOf = new Map<ScanItem, string>();
  for (let i = 0; i < labelled.length; i++) {
    const p = probed[i];
    const l = labelled[i];
    if (p.notImage) continue;
    problems.push(...p.problems);
    if (!p.ok) continue;
    const group = l.group
      ? isPatientColumn(layout.columns?.group)
        ? hide(l.group)
        : l.group
      : p.patient
        ? hide(p.patient)
        : undefined;
    const it: ScanItem = {
      file: l.file.rel,
      label: l.label,
      ...(l.split ? { split: l.split } : {}),
      ...(group ? { group } : {}),
      format: p.format!,
      width: p.width!,
      height: p.height!,
      channels: p.channels!,
      bitDepth: p.bitDepth!,
      bytes: l.file.size,
      ...(p.dicom ? { dicom: p.dicom } : {}),
      ...(p.raster ? { raster: p.raster } : {}),
    };
    if (p.patient) patientOf.set(it, hide(p.patient));
    if (opts.frames === 'all' && p.dicom && p.dicom.frames > 1) {
      // every frame its own sample; the frames of a file share its group (its patient, else the file)
      for (let k = 0; k < p.dicom.frames; k++) {
        const fr: ScanItem = { ...it, file: frameItemPath(it.file, k), frame: k, group: it.group ?? `file:${it.file}` };
        if (p.patient) patientOf.set(fr, hide(p.patient));
        items.push(fr);
      }
      abs.set(l.file.rel, l.file.abs);
      continue;
    }
    items.push(it);
    abs.set(l.file.rel, l.file.abs);
  }

  // multispectral: every file must have the dataset's band count (that of most files)
  let bands: BandSummary | undefined;
  const rasters = items.filter((i) => i.raster);
  if (rasters.length > 0 && rasters.length * 2 < items.length) {
    // a few multispectral files among photos: the photos define the dataset, the rasters cannot join it
    for (const it of rasters) {
      problems.push({
        file: it.file,
        kind: 'unsupported',
        message: `has ${it.raster!.bands} bands (multispectral) while most images of this dataset are ordinary RGB or grey images; left out`,
        excluded: true,
      });
    }
    const drop = new Set(rasters);
    items.splice(0, items.length, ...items.filter((i) => !drop.has(i)));
  } else if (rasters.length > 0) {
    const bandCounts = tally(rasters, (i) => String(i.raster!.bands));
    const majority = Number(
      Object.entries(bandCounts).sort((a, b) => b[1] - a[1] || Number(b[0]) - Number(a[0]))[0][0],
    );
    const odd = new Set(rasters.filter((i) => i.raster!.bands !== majority));
    for (const it of odd) {
      problems.push({
        file: it.file,
        kind: 'band-count',
        message: `has ${it.raster!.bands} bands, but the other images of this dataset have ${majority}; left out`,
        excluded: true,
      });
    }
    if (odd.size) items.splice(0, items.length, ...items.filter((i) => !odd.has(i)));
    bands = {
      files: rasters.length,
      bandCounts,
      bands: majority,
      sampleTypes: tally(rasters, (i) => i.raster!.sampleType),
      nodata: tally(rasters, (i) => (i.raster!.nodata === undefined ? 'none' : String(i.raster!.nodata))),
      mismatched: odd.size,
      sentinel2: rasters.some((i) => i.raster!.bands === majority && isSentinel2Raster(i.raster!)),
    };
  }
  const dicom = dicomSummary(items, patientOf);

  // exact duplicates: only files sharing a byte size can be equal, so only those are hashed
  const bySize = new Map<number, ScanItem[]>();
  for (const it of items) {
    const xs = bySize.get(it.bytes);
    if (xs) xs.push(it);
    else bySize.set(it.bytes, [it]);
  }
  // frames of one file share its bytes: only the first frame stands for the file here
  const toHash = [...bySize.values()]
    .filter((xs) => xs.length > 1)
    .flat()
    .filter((i) => !i.frame);
  let hashed = 0;
  await mapPool(toHash, 8, async (it) => {
    it.hash = await hashFile(abs.get(framelessPath(it.file))!);
    hashed++;
    emit({ type: 'progress', phase: 'scan:duplicates', done: hashed, total: toHash.length });
  });
  const byHash = new Map<string, ScanItem[]>();
  for (const it of toHash) {
    const xs = byHash.get(it.hash!);
    if (xs) xs.push(it);
    else byHash.set(it.hash!, [it]);
  }
  const duplicates: DuplicateSet[] = [];
  const splitRank = (x: ScanItem) => (x.split ? SPLIT_ORDER.indexOf(x.split) : -1);
  for (const [hash, xs] of byHash) {
    if (xs.length < 2) continue;
    // the training copy first, so leakage is reported on the val/test copies
    xs.sort((a, b) => splitRank(a) - splitRank(b) || (a.file < b.file ? -1 : 1));
    const crossSplit = new Set(xs.map((x) => x.split ?? '')).size > 1;
    const conflictingLabels = new Set(xs.map((x) => x.label)).size > 1;
    duplicates.push({ hash, files: xs.map((x) => x.file), crossSplit, conflictingLabels });
    for (const x of xs.slice(1)) {
      const first = xs[0];
      problems.push({
        file: x.file,
        kind: crossSplit && x.split !== first.split ? 'leakage' : 'duplicate',
        message:
          crossSplit && x.split !== first.split
            ? `identical to ${first.file} in the ${first.split} split: the same image is in ${x.split} and ${first.split} (leakage inflates the score)`
            : x.label !== first.label
              ? `identical to ${first.file}, but labelled "${x.label}" here and "${first.label}" there: check which label is right`
              : `identical to ${first.file}; the copies are kept on one side of any split`,
        excluded: false,
      });
    }
  }

  // classes, per split
  const classMap = new Map<string, ClassSummary>();
  for (const it of items) {
    let c = classMap.get(it.label);
    if (!c) classMap.set(it.label, (c = { name: it.label, count: 0 }));
    c.count++;
    if (it.split) {
      c.splits ??= {};
      c.splits[it.split] = (c.splits[it.split] ?? 0) + 1;
    }
  }
  const classes = [...classMap.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let splits: ScanReport['splits'] = null;
  if (layout.kind === 'split-folders') {
    splits = {};
    for (const s of SPLIT_ORDER) {
      const n = items.filter((it) => it.split === s).length;
      if (n > 0) splits[s] = n;
    }
  }

  const issues: ScanIssue[] = [];
  // class folders whose files all failed, or that hold no images at all
  const emptyFolders = new Set<string>();
  if (layout.kind === 'class-folders') {
    const { readdir } = await import('node:fs/promises');
    for (const e of await readdir(absRoot, { withFileTypes: true })) {
      if (e.isDirectory() && !isHiddenName(e.name) && !classMap.has(e.name.normalize('NFC')))
        emptyFolders.add(e.name.normalize('NFC'));
    }
  } else {
    for (const l of labelled) if (!classMap.has(l.label)) emptyFolders.add(l.label);
  }
  for (const name of emptyFolders) {
    issues.push({
      severity: 'warning',
      kind: 'empty-class',
      class: name,
      message: `"${name}" has no usable images; it is not a class`,
    });
  }
  if (items.length === 0) {
    issues.push({ severity: 'error', kind: 'no-images', message: 'No usable images were found.' });
  } else if (classes.length < 2) {
    issues.push({
      severity: 'error',
      kind: 'single-class',
      message: `Only one class (${classes[0]?.name}) was found; a classifier needs at least two.`,
    });
  }
  for (const c of classes) {
    if (c.count < MIN_CLASS_IMAGES) {
      issues.push({
        severity: 'error',
        kind: 'too-few-images',
        class: c.name,
        message: `"${c.name}" has ${c.count} image; at least ${MIN_CLASS_IMAGES} are needed to split it (add images or remove the class)`,
      });
    } else if (c.count < FEW_CLASS_IMAGES) {
      issues.push({
        severity: 'warning',
        kind: 'few-images',
        class: c.name,
        message: `"${c.name}" has only ${c.count} images; accuracy on it will be unreliable (${FEW_CLASS_IMAGES}+ recommended)`,
      });
    }
    if (splits && !c.splits?.train) {
      issues.push({
        severity: 'error',
        kind: 'class-missing-from-train',
        class: c.name,
        message: `"${c.name}" has no images in the training split`,
      });
    }
  }
  if (classes.length >= 2) {
    const counts = classes.map((c) => c.count);
    const max = Math.max(...counts);
    const min = Math.min(...counts);
    if (min > 0 && max / min >= IMBALANCE_RATIO) {
      const big = classes.find((c) => c.count === max)!.name;
      const small = classes.find((c) => c.count === min)!.name;
      issues.push({
        severity: 'warning',
        kind: 'imbalance',
        message: `Classes are imbalanced: "${big}" has ${max} images, "${small}" ${min} (ratio ${(max / min).toFixed(1)}:1). Accuracy alone will be misleading; look at per-class recall.`,
      });
    }
  }

  // groups (patients) seen in more than one class: the split keeps them together, but the labels deserve a look
  const groupClasses = new Map<string, Set<string>>();
  for (const it of items) {
    if (!it.group) continue;
    const set = groupClasses.get(it.group) ?? new Set<string>();
    set.add(it.label);
    groupClasses.set(it.group, set);
  }
  const multi = [...groupClasses.values()].filter((c) => c.size > 1).length;
  const groupWord = dicom || isPatientColumn(layout.columns?.group) ? 'patients' : 'groups';
  if (multi > 0) {
    issues.push({
      severity: 'warning',
      kind: 'group-in-several-classes',
      message: `${multi} of ${groupClasses.size} ${groupWord} have images in more than one class; each is kept on one side of the split (no ${groupWord.slice(0, -1)} in two splits), but check that their labels are right`,
    });
  }
  if (dicom) {
    const mods = Object.keys(dicom.modalities);
    if (mods.length > 1)
      issues.push({
        severity: 'warning',
        kind: 'mixed-modalities',
        message: `The DICOM files mix modalities (${Object.entries(dicom.modalities)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}); one window rule rarely suits them all`,
      });
  }
  if (dicom || bands) {
    const sizes = tally(items, (i) => `${i.width}×${i.height}`);
    if (Object.keys(sizes).length > 1) {
      issues.push({
        severity: 'warning',
        kind: 'mixed-sizes',
        message: `Images have different sizes (${Object.entries(sizes)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')}); they are resized to the model's input, which changes the pixel spacing between images`,
      });
    }
  }

  const report: ScanReport = {
    version: SCAN_VERSION,
    root: absRoot,
    fingerprint,
    scannedAt: new Date().toISOString(),
    layout,
    total: items.length,
    classes,
    splits,
    images: summarise(items),
    items,
    problems,
    issues,
    duplicates,
    groups: groupClasses.size,
    ...(dicom ? { dicom } : {}),
    ...(bands ? { bands } : {}),
    otherFiles: walked.otherFiles,
    durationMs: performance.now() - t0,
    fromCache: false,
  };
  if (useCache) {
    // the cache is an optimisation: failing to write it must not fail the scan
    await writeFileAtomic(cacheFile, JSON.stringify(report)).catch(() => {});
  }
  return report;
}
