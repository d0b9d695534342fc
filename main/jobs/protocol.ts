/** Messages between the job host (main / e2e server) and the engine worker process. */
import type { EngineEvent } from './engine-contract';
import type { UserErrorInfo } from '../ipc/errors';

export type WorkerMethod =
  | 'scanDataset'
  | 'inspectBackbone'
  | 'listMethods'
  | 'trainRun'
  | 'evaluateRun'
  | 'exportRun'
  | 'predictWithModel'
  | 'raceMethods'
  | 'capabilities'
  | 'thumbnails'
  | 'crash';

export type ToWorker =
  | { type: 'call'; id: string; method: WorkerMethod; args: unknown[] }
  | { type: 'cancel'; id: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'event'; id: string; event: EngineEvent }
  | { type: 'result'; id: string; value: unknown }
  | { type: 'error'; id: string; error: UserErrorInfo };
