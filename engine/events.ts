/** Typed events every long engine job streams (CLI prints them, the app charts them). */

/** Every phase a job announces or reports progress in; `features:<split>` is the linear probe's feature pass. */
export type EnginePhase =
  | 'prepare'
  | 'resume'
  | 'scan'
  | 'scan:duplicates'
  | 'compile'
  | 'gps-select'
  | `features:${'train' | 'val' | 'test'}`
  | 'train'
  | 'evaluate'
  | 'export'
  | 'verify'
  | 'predict'
  | 'sweep';

/** A training run's memory estimate against what the machine has free (programs/memory.ts; CPU only). */
export interface MemoryNotice {
  estimatedBytes: number;
  availableBytes: number;
  batch: number;
  /** the estimate, with a margin for its error, fits in the memory available when the run started */
  enough: boolean;
  /** when it does not: the largest batch (halving) whose estimate fits, or null when not even batch 1 does */
  fitsBatch: number | null;
  /** the estimate at `fitsBatch` */
  fitsBatchBytes: number | null;
  message: string;
}

export type EngineEvent =
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | ({ type: 'memory' } & MemoryNotice)
  | { type: 'phase'; phase: EnginePhase; detail?: string }
  | { type: 'progress'; phase: EnginePhase; done: number; total: number; detail?: string }
  | { type: 'provider'; provider: string; requested: string; fallbackReason?: string }
  | {
      type: 'step';
      epoch: number;
      step: number;
      stepsPerEpoch: number;
      loss: number;
      lr: number;
      imagesPerSecond: number;
      /** the linear probe's fast path: steps train the head on cached features, so images/s is not the backbone's */
      cachedFeatures?: boolean;
    }
  | {
      type: 'epoch';
      epoch: number;
      epochs: number;
      trainLoss: number;
      trainAccuracy: number;
      valLoss: number;
      valAccuracy: number;
      valBalancedAccuracy?: number;
      valMacroF1?: number;
      /** the validation figure that picks the best epoch */
      selectedBy?: 'balanced-accuracy' | 'macro-f1' | 'accuracy';
      seconds: number;
      best: boolean;
      /** method diagnostics, e.g. SPD projection share, PACE gradient norm */
      diagnostics: Record<string, number>;
    }
  /** GPS: how many weights were selected in each block (METHODS.md §GPS: the budget spreads over every layer) */
  | { type: 'selection'; method: string; selected: number; total: number; perBlock: Record<string, number> }
  | {
      type: 'done';
      runDir: string;
      bestEpoch: number;
      bestValAccuracy: number;
      testAccuracy?: number;
      selectedBy?: 'balanced-accuracy' | 'macro-f1' | 'accuracy';
      bestValScore?: number;
    }
  | { type: 'cancelled'; runDir: string; resumable: boolean };

export type EventSink = (event: EngineEvent) => void;
