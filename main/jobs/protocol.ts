/** Messages between the job host (main / browser-mode server) and the engine worker process. */
import type { EngineEvent } from './engine-contract';
import type { WorkerMethod } from './engine-bridge';
import type { UserErrorInfo } from '../ipc/errors';

export type { WorkerMethod };

export type ToWorker =
  { type: 'call'; id: string; method: WorkerMethod; args: unknown[] } | { type: 'cancel'; id: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'event'; id: string; event: EngineEvent }
  | { type: 'result'; id: string; value: unknown }
  | { type: 'error'; id: string; error: UserErrorInfo };
