/**
 * Runs engine calls in worker processes and streams their events back.
 * Short calls share one long-lived worker; training and export get a dedicated worker each,
 * so a crash there ends that job only and is reported, never fatal to the app. A call may name a lane of its own: a
 * long-lived worker for calls whose results the worker caches and that may take long (the memory count), so they
 * hold up neither the short calls nor lose what they cached; a lane's worker ends after it has been idle a while.
 */
import { randomUUID } from 'node:crypto';
import type { EngineEvent } from './engine-contract';
import type { FromWorker, ToWorker } from './protocol';
import type { WorkerArgs, WorkerMethod, WorkerResult } from './engine-bridge';
import { AttuneError, type UserErrorInfo } from '../ipc/errors';

export interface WorkerHandle {
  send(msg: ToWorker): void;
  onMessage(cb: (msg: FromWorker) => void): void;
  onExit(cb: (code: number | null) => void): void;
  kill(): void;
}

export type WorkerFactory = (name: string) => WorkerHandle;

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onEvent?: (e: EngineEvent) => void;
  worker: WorkerHandle;
}

class JobCrashed extends AttuneError {}

/** error code of jobs ended because the app is closing (not a crash: the work can resume) */
export const APP_CLOSING = 'app-closing';

/** how long a cancelled dedicated job may take to stop by itself before its process is ended */
const CANCEL_GRACE_MS = 20_000;

export interface CallOptions {
  onEvent?: (e: EngineEvent) => void;
  signal?: AbortSignal;
  /** own process: for long jobs (train, export) */
  dedicated?: boolean;
  /** after a cancel, how long a dedicated job may take to stop by itself before its process is ended */
  cancelGraceMs?: number;
  /** a long-lived worker shared by the calls of this lane only, ended after `idleMs` without a call */
  lane?: { name: string; idleMs: number };
}

interface Lane {
  worker: WorkerHandle;
  calls: number;
  idle?: ReturnType<typeof setTimeout>;
}

export class JobHost {
  private shared: WorkerHandle | null = null;
  private lanes = new Map<string, Lane>();
  private pending = new Map<string, Pending>();
  private workers = new Set<WorkerHandle>();
  /** workers ended by dispose(): their exit is the app closing, not a crash */
  private closed = new WeakSet<WorkerHandle>();

  constructor(private readonly factory: WorkerFactory) {}

  /** Arguments and result are typed from the worker's job table (engine-bridge.ts), itself typed from the façade. */
  call<M extends WorkerMethod>(method: M, args: WorkerArgs<M>, opts: CallOptions = {}): Promise<WorkerResult<M>> {
    const id = randomUUID();
    const lane = opts.lane && !opts.dedicated ? this.enterLane(opts.lane.name) : undefined;
    const worker = lane?.worker ?? (opts.dedicated ? this.spawn(`attune-${method}`) : this.sharedWorker());
    return new Promise<WorkerResult<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent: opts.onEvent, worker });
      if (opts.signal) {
        const cancel = () => {
          worker.send({ type: 'cancel', id });
          // the engine stops at its next step; if it cannot (a long native call), end a dedicated worker
          if (opts.dedicated)
            setTimeout(() => this.pending.has(id) && worker.kill(), opts.cancelGraceMs ?? CANCEL_GRACE_MS).unref?.();
        };
        if (opts.signal.aborted) cancel();
        else opts.signal.addEventListener('abort', cancel, { once: true });
      }
      worker.send({ type: 'call', id, method, args });
    }).finally(() => {
      this.pending.delete(id);
      if (opts.dedicated) worker.kill();
      if (lane && opts.lane) this.leaveLane(opts.lane.name, lane, opts.lane.idleMs);
    });
  }

  private enterLane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = { worker: this.spawn(`attune-${name}`), calls: 0 };
      this.lanes.set(name, lane);
    }
    clearTimeout(lane.idle);
    lane.calls++;
    return lane;
  }

  /** the lane's last call done: its worker (and what it cached) is ended after `idleMs` without another */
  private leaveLane(name: string, lane: Lane, idleMs: number): void {
    if (--lane.calls > 0 || this.lanes.get(name) !== lane) return;
    lane.idle = setTimeout(() => {
      if (this.lanes.get(name) !== lane || lane.calls > 0) return;
      this.lanes.delete(name);
      this.closed.add(lane.worker);
      lane.worker.kill();
    }, idleMs);
    lane.idle.unref?.();
  }

  /** Ends every worker (the app is closing): their jobs end with APP_CLOSING, not as crashes. */
  dispose(): void {
    for (const w of this.workers) {
      this.closed.add(w);
      w.kill();
    }
    this.workers.clear();
    this.shared = null;
    for (const lane of this.lanes.values()) clearTimeout(lane.idle);
    this.lanes.clear();
  }

  private sharedWorker(): WorkerHandle {
    this.shared ??= this.spawn('attune-engine');
    return this.shared;
  }

  private spawn(name: string): WorkerHandle {
    const worker = this.factory(name);
    this.workers.add(worker);
    worker.onMessage((msg) => this.onMessage(msg));
    worker.onExit((code) => {
      this.workers.delete(worker);
      if (this.shared === worker) this.shared = null;
      for (const [name, lane] of this.lanes) if (lane.worker === worker) this.lanes.delete(name);
      for (const [id, p] of this.pending) {
        if (p.worker !== worker) continue;
        this.pending.delete(id);
        if (this.closed.has(worker)) {
          p.reject(
            new AttuneError(
              APP_CLOSING,
              'Attune was closed while this was running.',
              'Open Attune again and resume it.',
            ),
          );
          continue;
        }
        p.reject(
          new JobCrashed(
            'worker-crashed',
            `The engine process stopped unexpectedly${code === null ? '' : ` (exit code ${code})`}.`,
            'Attune itself is fine and your data is untouched. Try again; if it happens again, use a smaller batch size or a lighter method, and check free memory.',
          ),
        );
      }
    });
    return worker;
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'ready') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'event') p.onEvent?.(msg.event);
    else if (msg.type === 'result') p.resolve(msg.value);
    else if (msg.type === 'error') p.reject(fromInfo(msg.error));
  }
}

function fromInfo(info: UserErrorInfo): AttuneError {
  return new AttuneError(info.code, info.message, info.hint);
}
