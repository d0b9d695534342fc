/**
 * What the app needs from the engine, written from the contracts announced for `engine/api.ts` and `engine/data/`.
 * The engine-bridge adapts the real engine modules to this interface; the lead reconciles names when they land.
 * Types only: no runtime code here, so the renderer may import it for display types.
 */
import type { EngineEvent } from '../../engine/events';
import type { Preprocessing } from '../../engine/preprocessing';

export type { EngineEvent, Preprocessing };

export interface ScanProblem {
  /** relative to the dataset root as the engine reports it */
  file: string;
  kind: string;
  message: string;
  /** left out of training */
  excluded: boolean;
}

/** Class-level findings (imbalance, too few images …): errors block training, warnings are shown. */
export interface ScanIssue {
  severity: 'error' | 'warning';
  kind: string;
  message: string;
  class?: string;
}

export interface ScanClass {
  name: string;
  count: number;
  /** a few files of this class (absolute paths) for thumbnails, when the engine provides them */
  examples?: string[];
}

export interface ScanReport {
  root: string;
  total: number;
  classes: ScanClass[];
  /** 'class-folders' | 'split-folders' | 'labels-file' */
  layout: string;
  fingerprint: string | null;
  /** e.g. "780 PNG, 256×256" */
  imageSummary: string | null;
  /** given splits, if the data came with train/val/test folders; counts per split */
  splits: Record<string, number> | null;
  problems: ScanProblem[];
  issues: ScanIssue[];
}

export interface SplitSettings {
  valFraction: number;
  testFraction: number;
  seed: number;
}

export interface BackboneInfo {
  modelPath: string;
  ok: boolean;
  featureTensor: string | null;
  featureDim: number | null;
  unsupportedOps: string[];
  inputSize: number | null;
  preprocessing: Preprocessing | null;
  parameterCount: number;
  /** plain-language notes from the check (warnings, fallbacks) */
  notes: string[];
}

export interface MethodInfo {
  name: string;
  title: string;
  summary: string;
  /** share of backbone+head parameters that train, 0..1, when known for a given backbone */
  trainableShare: number | null;
  /** seconds per epoch on the detected device, when the engine can estimate it */
  secondsPerEpoch: number | null;
  recommended: boolean;
  why?: string;
  defaults: { epochs: number; batchSize: number; learningRate: number } & Record<string, number>;
}

export interface MethodListing {
  device: string;
  methods: MethodInfo[];
  recommendation: { name: string; why: string; alternative?: { name: string; why: string } } | null;
}

export interface TrainRequest {
  dataPath: string;
  /** a labels CSV instead of a folder layout */
  csvPath?: string;
  modelPath: string;
  method: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  outDir: string;
  provider: string;
  split: SplitSettings;
  /** method-specific settings (LoRA rank, GPS K, PACE λ/σ, SPD λ …) */
  options?: Record<string, number>;
  /** resume an interrupted run from its run folder */
  resumeFrom?: string;
  /** reuse the split saved by an earlier run (compare methods on the same split) */
  splitFile?: string;
  /** where the engine caches scan reports */
  scanCacheDir?: string;
}

export interface TrainResult {
  runDir: string;
  status: 'done' | 'cancelled';
  provider?: string;
  bestEpoch?: number;
  bestValAccuracy?: number;
  testAccuracy?: number;
}

export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Misclassified {
  file: string;
  trueClass: string;
  predictedClass: string;
  confidence: number;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  confidence: number;
  accuracy: number;
  count: number;
}

export interface EvaluationReport {
  split: string;
  accuracy: number;
  balancedAccuracy: number;
  classes: string[];
  perClass: ClassMetrics[];
  /** rows = true class, columns = predicted class */
  confusion: number[][];
  misclassified: Misclassified[];
  calibration: CalibrationBin[];
  ece?: number;
}

export interface ExportResult {
  outDir: string;
  files: string[];
  /** the export was reloaded and compared with the engine's own predictions */
  verification?: { maxAbsDiff: number; images: number };
}

export interface Prediction {
  file: string;
  label: string;
  confidence: number;
  probabilities: { label: string; p: number }[];
}

/** One function per engine capability the app uses. Every one may throw an AttuneError-shaped error. */
export interface EngineContract {
  scanDataset(path: string, opts: { csvPath?: string; cacheDir?: string }, onEvent: (e: EngineEvent) => void): Promise<ScanReport>;
  inspectBackbone(modelPath: string): Promise<BackboneInfo>;
  listMethods(ctx: { modelPath?: string; trainCount?: number }): Promise<MethodListing>;
  trainRun(request: TrainRequest, opts: { signal: AbortSignal; onEvent: (e: EngineEvent) => void }): Promise<TrainResult>;
  evaluateRun(runDir: string): Promise<EvaluationReport>;
  exportRun(runDir: string, outDir: string, opts: { signal: AbortSignal; onEvent: (e: EngineEvent) => void }): Promise<ExportResult>;
  predictWithModel(modelPath: string, files: string[]): Promise<Prediction[]>;
}

export type EngineMethod = keyof EngineContract;
