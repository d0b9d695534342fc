/** Shared data types of the dataset layer (scan report, split). All JSON-serialisable. */

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

export type LayoutKind = 'class-folders' | 'split-folders' | 'labels-file';

export interface Layout {
  kind: LayoutKind;
  /** split-folders: the folder used for each split, e.g. { train: 'Training', test: 'Testing' } */
  splitFolders?: Partial<Record<SplitName, string>>;
  /** labels-file: the table and the columns used */
  labelsFile?: string;
  columns?: { path: string; label: string; group?: string };
}

/** One usable image. */
export interface ScanItem {
  /** relative to the dataset root, '/'-separated (absolute only for labels-file rows pointing outside it) */
  file: string;
  label: string;
  /** from split folders */
  split?: SplitName;
  /** from a group column: images of one group stay on one side of a split */
  group?: string;
  format: string;
  width: number;
  height: number;
  channels: number;
  /** bits per sample (DICOM: BitsStored, e.g. 12) */
  bitDepth: number;
  bytes: number;
  /** with frames 'all': the frame of a multi-frame DICOM file this item is (its file ends in ::frame=N) */
  frame?: number;
  /** DICOM header facts (no identifiers) */
  dicom?: DicomFacts;
  /** multispectral GeoTIFF facts */
  raster?: RasterFacts;
  /** content hash, present for files that share their size with another file */
  hash?: string;
}

export type ProblemKind =
  | 'empty'
  | 'truncated'
  | 'unreadable'
  | 'unsupported'
  | 'too-large'
  | 'mislabelled-extension'
  | 'duplicate'
  | 'leakage'
  | 'missing'
  | 'ambiguous'
  | 'unlabelled'
  | 'bad-row'
  | 'symlink-loop'
  /** not an image to train on (DICOMDIR, structured report, …): left out, not an error */
  | 'skipped'
  | 'band-count';

export interface ScanProblem {
  file: string;
  kind: ProblemKind;
  message: string;
  /** true when the file is left out of training */
  excluded: boolean;
}

export type IssueKind =
  | 'too-few-images'
  | 'few-images'
  | 'imbalance'
  | 'empty-class'
  | 'single-class'
  | 'no-images'
  | 'class-missing-from-train'
  | 'group-in-several-classes'
  | 'mixed-modalities'
  | 'mixed-sizes'
  | 'mixed-bands';

export interface DicomFacts {
  modality?: string;
  bodyPart?: string;
  photometric: string;
  transferSyntax: string;
  frames: number;
  /** first WindowCenter/Width, when the file has one */
  window?: { center: number; width: number };
}

export interface RasterFacts {
  bands: number;
  sampleType: string;
  nodata?: number;
}

/** DICOM part of a scan report: counts only, no identifiers. */
export interface DicomSummary {
  files: number;
  /** distinct patients (PatientID, else StudyInstanceUID) */
  patients: number;
  /** patients with images in more than one class */
  patientsInSeveralClasses: number;
  modalities: Record<string, number>;
  bodyParts: Record<string, number>;
  /** 'rows×columns' */
  sizes: Record<string, number>;
  bitsStored: Record<string, number>;
  photometric: Record<string, number>;
  transferSyntaxes: Record<string, number>;
  multiFrameFiles: number;
  /** files with their own WindowCenter/Width */
  withWindow: number;
}

/** Multispectral part of a scan report. */
export interface BandSummary {
  files: number;
  /** band count → files */
  bandCounts: Record<string, number>;
  /** the band count of most files, used for the dataset */
  bands: number;
  sampleTypes: Record<string, number>;
  nodata: Record<string, number>;
  /** files left out because their band count differs */
  mismatched: number;
  /** Sentinel-2 L1C (13 uint16 bands, as EuroSAT-MS): true colour by default, reflectance scaling */
  sentinel2: boolean;
}

/** Class-level findings. Errors block training; warnings are shown. */
export interface ScanIssue {
  severity: 'error' | 'warning';
  kind: IssueKind;
  message: string;
  class?: string;
}

export interface DuplicateSet {
  hash: string;
  files: string[];
  /** the copies sit in different splits of a given split (train/test leakage) */
  crossSplit: boolean;
  /** the copies carry different labels */
  conflictingLabels: boolean;
}

export interface RangeSummary {
  min: number;
  median: number;
  max: number;
}

export interface ImageSummary {
  formats: Record<string, number>;
  channels: Record<string, number>;
  bitDepths: Record<string, number>;
  width: RangeSummary;
  height: RangeSummary;
  /** most frequent sizes first */
  commonSizes: { width: number; height: number; count: number }[];
}

export interface ClassSummary {
  name: string;
  count: number;
  /** per split, when the layout gives splits */
  splits?: Partial<Record<SplitName, number>>;
}

export interface ScanReport {
  version: number;
  root: string;
  /** hash of relative paths, sizes and mtimes (plus the labels options): identifies this state of the folder */
  fingerprint: string;
  scannedAt: string;
  layout: Layout;
  /** usable images */
  total: number;
  classes: ClassSummary[];
  /** image counts per split given by the layout; null when the layout gives none */
  splits: Partial<Record<SplitName, number>> | null;
  images: ImageSummary;
  items: ScanItem[];
  problems: ScanProblem[];
  issues: ScanIssue[];
  duplicates: DuplicateSet[];
  /** distinct split groups (patients, lesions, sites); 0 when the dataset has none */
  groups: number;
  dicom?: DicomSummary;
  bands?: BandSummary;
  /** non-image files (documents, spreadsheets, …) left alone; hidden and system files are not counted */
  otherFiles: number;
  /** milliseconds the scan took (0 parts were read from cache when `fromCache`) */
  durationMs: number;
  fromCache: boolean;
}
