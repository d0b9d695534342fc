/** Data shapes shared by main and the renderer (types only). */
import type {
  BackboneInfo,
  EngineEvent,
  ScanReport,
  SplitSettings,
  AppTrainRequest,
  TrainRequest,
} from '../jobs/engine-contract';
import type { UserErrorInfo } from './errors';
import type { ProviderRequest } from '../../engine/runtime/providers';

export type { UserErrorInfo };
/** how the renderer reaches main: Electron IPC, or HTTP from a browser (npm start without a display) */
export type Transport = 'electron' | 'browser';
export type Provider = ProviderRequest;

export interface Settings {
  workspace: string;
  /** folder, JSON file or https URL of a catalogue; null = built-in */
  catalogueSource: string | null;
  provider: Provider;
}

export interface DataSource {
  kind: 'folder' | 'csv';
  /** the image folder (for a CSV: the folder its paths are relative to) */
  path: string;
  csvPath?: string;
  /** the CSV's path, label and group columns, when the user chose them (else recognised by name) */
  columns?: CsvColumns;
  /** DICOM/16-bit window for training and previews (the --window forms); absent = each file's own */
  window?: string;
  /** multispectral band choice ('4,3,2', a preset, or 'all') */
  bands?: string;
  /** multi-frame DICOM: every frame its own sample (absent: each file's middle frame) */
  frames?: 'all';
  /** 16-bit PNG/TIFF: subtracted from the stored values before the window (32768 for Hounsfield + 32768) */
  valueOffset?: number;
}

export interface CsvColumns {
  path: string;
  label: string;
  group?: string;
}

export interface ModelChoice {
  source: 'catalogue' | 'file';
  catalogueId?: string;
  path: string;
  name: string;
  info?: BackboneInfo;
}

export interface MethodChoice {
  name: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  options: Record<string, number>;
  /** image variations while training (the engine's presets); absent: natural photos */
  augment?: TrainRequest['augment'];
  /** class imbalance handling; absent: what the scan proposes (balanceFor in main/runs/balance.ts) */
  balance?: TrainRequest['balance'];
}

export interface Project {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  data: DataSource | null;
  scan: ScanReport | null;
  scannedAt: string | null;
  split: SplitSettings;
  /** split.json written by the project's first run; later runs reuse it */
  splitFrom: string | null;
  model: ModelChoice | null;
  method: MethodChoice | null;
  /** the user's corrections, relative to the data folder ('/'-separated); the folder itself is never changed */
  overrides?: DataOverrides;
}

export interface DataOverrides {
  exclude: string[];
  relabel: Record<string, string>;
}

export interface ProjectSummary {
  id: string;
  name: string;
  updatedAt: string;
  dataPath: string | null;
  runs: number;
  lastRun: RunSummary | null;
}

export type RunStatus = 'running' | 'done' | 'cancelled' | 'failed' | 'interrupted';
export type EpochEvent = Extract<EngineEvent, { type: 'epoch' }>;

export interface RunRecord {
  id: string;
  projectId: string;
  createdAt: string;
  finishedAt: string | null;
  status: RunStatus;
  request: AppTrainRequest;
  runDir: string;
  modelName: string;
  provider: string | null;
  providerNote: string | null;
  /** the engine's warning that the run may not fit in memory (absent in records saved before it existed) */
  memoryNote?: string | null;
  epochs: EpochEvent[];
  steps: { epoch: number; step: number; loss: number }[];
  bestValAccuracy: number | null;
  testAccuracy: number | null;
  error: UserErrorInfo | null;
  exports: string[];
}

export interface RunSummary {
  id: string;
  projectId: string;
  projectName?: string;
  createdAt: string;
  status: RunStatus;
  method: string;
  modelName: string;
  epochs: number;
  bestValAccuracy: number | null;
  testAccuracy: number | null;
}

export interface CatalogueEntryView {
  id: string;
  name: string;
  description: string;
  sizeBytes: number | null;
  /** 0 = not known until the model is checked */
  inputSize: number;
  parameters: number | null;
  licence: string;
  recommended: boolean;
  source: string;
  /** the current catalogue source can provide it (or it is already cached) */
  available: boolean;
  cached: boolean;
  cachedPath: string | null;
  partialBytes: number;
  checksumPinned: boolean;
}

export interface JobStarted {
  jobId: string;
}

/** Events pushed from main to the renderer. */
export type AppEvent =
  | { type: 'job-event'; jobId: string; runId?: string; event: EngineEvent }
  | {
      type: 'job-finished';
      jobId: string;
      runId?: string;
      ok: boolean;
      cancelled: boolean;
      error?: UserErrorInfo;
      value?: unknown;
    }
  | {
      type: 'download';
      jobId: string;
      entryId: string;
      received: number;
      total: number | null;
      phase: 'downloading' | 'verifying' | 'done';
    }
  | { type: 'runs-changed'; projectId: string }
  | { type: 'navigate'; route: string };
