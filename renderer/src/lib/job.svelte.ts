/**
 * An engine job that a panel starts and follows by its id (k-fold, method race): its progress, its result or the
 * error in words, and a way to stop it. The events come through the app store's one subscription to main.
 */
import type { EngineEvent } from '@main/jobs/engine-contract';
import { call } from './api';
import { app } from './stores/app.svelte';

type Phase = Extract<EngineEvent, { type: 'progress' }>['phase'];

export interface JobProgress {
  done: number;
  total: number;
  detail?: string;
}

export class TrackedJob<T> {
  /** set while the job runs (from its start until its job-finished event) */
  jobId = $state<string | null>(null);
  progress = $state<JobProgress | null>(null);
  result = $state<T | null>(null);
  error = $state<string | null>(null);
  private readonly off: () => void;

  /** `phase`: the engine progress phase shown; `failed`: the words when a failure comes without an error */
  constructor(opts: { phase: Phase; failed: string }) {
    this.off = app.subscribe((e) => {
      if (!this.jobId || !('jobId' in e) || e.jobId !== this.jobId) return;
      if (e.type === 'job-event' && e.event.type === 'progress' && e.event.phase === opts.phase)
        this.progress = { done: e.event.done, total: e.event.total, detail: e.event.detail };
      if (e.type === 'job-finished') {
        if (e.ok) this.result = e.value as T;
        // a cancel the user asked for is not an error
        else if (!e.cancelled) this.error = e.error ? `${e.error.message} ${e.error.hint}` : opts.failed;
        this.jobId = null;
        this.progress = null;
      }
    });
  }

  /** starts the job with `begin` (a call that answers its job id); a refusal is shown in the app's banner */
  async start(begin: () => Promise<{ jobId: string }>): Promise<void> {
    this.error = null;
    this.result = null;
    await app.attempt(async () => {
      this.jobId = (await begin()).jobId;
    });
  }

  async cancel(): Promise<void> {
    const jobId = this.jobId;
    if (jobId) await app.attempt(() => call('jobs:cancel', { jobId }));
  }

  /** stops listening (the owning component is gone); the job itself runs on */
  dispose(): void {
    this.off();
  }
}

export const trackJob = <T>(opts: { phase: Phase; failed: string }): TrackedJob<T> => new TrackedJob<T>(opts);
