/**
 * What the app needs from the engine: the shapes of `engine/api.ts` and the functions the job worker calls.
 * Types only (type imports are erased), so the renderer may import it for display types.
 */
import type {
  BackboneInfo,
  EngineEvent,
  EvaluationReport,
  ExportResult,
  MethodInfo,
  MethodListing,
  Prediction,
  Preprocessing,
  RaceRequest,
  RaceSummary,
  ScanReport,
  TrainRequest,
  TrainResult,
} from '../../engine/api';

// the engine's façade defines these shapes once; the app uses them as they are
export type { BackboneInfo, EngineEvent, EvaluationReport, ExportResult, MethodInfo, MethodListing, Prediction, Preprocessing, RaceRequest, RaceSummary, ScanReport, TrainRequest, TrainResult };
export type ScanProblem = ScanReport['problems'][number];
export type ScanIssue = ScanReport['issues'][number];
export type ScanClass = ScanReport['classes'][number];
export type SplitSettings = TrainRequest['split'];
export type ClassMetrics = EvaluationReport['perClass'][number];
export type Misclassified = EvaluationReport['misclassified'][number];
export type CalibrationBin = EvaluationReport['calibration'][number];

/** One function per engine capability the app uses. Every one may throw an AttuneError-shaped error. */
export interface EngineContract {
  scanDataset(path: string, opts: { csvPath?: string; cacheDir?: string }, onEvent: (e: EngineEvent) => void): Promise<ScanReport>;
  inspectBackbone(modelPath: string): Promise<BackboneInfo>;
  listMethods(ctx: { modelPath?: string; trainCount?: number; raceDir?: string }): Promise<MethodListing>;
  trainRun(request: TrainRequest, opts: { signal: AbortSignal; onEvent: (e: EngineEvent) => void }): Promise<TrainResult>;
  evaluateRun(runDir: string): Promise<EvaluationReport>;
  exportRun(runDir: string, outDir: string, opts: { signal: AbortSignal; onEvent: (e: EngineEvent) => void }): Promise<ExportResult>;
  predictWithModel(modelPath: string, files: string[]): Promise<Prediction[]>;
  /** JPEG data URL of the model's view of a DICOM / 16-bit / multispectral image (window, bands) */
  previewImage(file: string, opts: { window?: string; bands?: string; size?: number }): Promise<string>;
  /** "Find the best method for my data" (Compare screen) */
  raceMethods(request: RaceRequest, opts: { signal: AbortSignal; onEvent: (e: EngineEvent) => void }): Promise<RaceSummary>;
}

export type EngineMethod = keyof EngineContract;
