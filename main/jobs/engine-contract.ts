/**
 * What the app uses of the engine: the types of the façade `engine/api.ts`, re-exported as they are.
 * Types only (erased at build time), so main and the renderer may import it without bundling engine code.
 */
import type * as Api from '../../engine/api';
import type { EvaluationReport, ScanReport, TrainRequest } from '../../engine/api';

export type {
  BackboneInfo,
  EngineEvent,
  EvaluationReport,
  Explanation,
  ExportResult,
  KFoldRequest,
  KFoldSummary,
  OperatingPoint,
  MemoryEstimate,
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
export type ScanProblem = ScanReport['problems'][number];
export type ScanIssue = ScanReport['issues'][number];
export type ScanClass = ScanReport['classes'][number];
/** The app's split settings: always all three (the engine's request also takes an explicit train share). */
export type SplitSettings = Required<Pick<NonNullable<TrainRequest['split']>, 'valFraction' | 'testFraction' | 'seed'>>;
/** A run request as the app makes it: the façade's request with the hyper-parameters the app always sets. */
export type AppTrainRequest = TrainRequest &
  Required<Pick<TrainRequest, 'epochs' | 'batchSize' | 'learningRate' | 'seed' | 'provider'>> & {
    split: SplitSettings;
  };
export type ClassMetrics = EvaluationReport['perClass'][number];
export type Misclassified = EvaluationReport['misclassified'][number];
export type CalibrationBin = EvaluationReport['calibration'][number];

/** The façade functions the app calls, with their signatures taken from the façade itself. */
export type EngineContract = Pick<
  typeof Api,
  | 'scanDataset'
  | 'inspectBackbone'
  | 'listMethods'
  | 'estimateMemory'
  | 'trainRun'
  | 'evaluateRun'
  | 'exportRun'
  | 'predictWithModel'
  | 'raceMethods'
  | 'kfoldEvaluate'
  | 'explainImages'
  | 'operatingPointForRun'
>;
export type BalanceMode = NonNullable<TrainRequest['balance']>;
export type ExportChoices = Pick<NonNullable<Parameters<typeof Api.exportRun>[2]>, 'operatingPoint' | 'referBelow'>;
export type EngineMethod = keyof EngineContract;
