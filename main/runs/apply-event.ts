/**
 * How an engine event changes a run record: one pure function, used by main (which saves the record)
 * and by the renderer store (which shows it live). No Node or DOM imports: both sides bundle it.
 */
import type { EngineEvent } from '../jobs/engine-contract';
import type { RunRecord } from '../ipc/types';

export type RunProgressFields = Pick<
  RunRecord,
  'provider' | 'providerNote' | 'memoryNote' | 'epochs' | 'steps' | 'bestValAccuracy'
>;

/** the loss curve keeps at most this many points (halved when full) */
const MAX_STEPS = 4000;

/** An accuracy worth showing: the engine reports −1 (or nothing) when no epoch was validated, e.g. after a cancel. */
export function validAccuracy(a: number | null | undefined): number | null {
  return typeof a === 'number' && Number.isFinite(a) && a >= 0 && a <= 1 ? a : null;
}

export function providerNote(e: Extract<EngineEvent, { type: 'provider' }>): string | null {
  return e.fallbackReason ? `Requested ${e.requested}; using ${e.provider} because ${e.fallbackReason}` : null;
}

/** Applies `event` to `r` in place; returns true when the change is worth saving (provider, epoch). */
export function applyEngineEvent(r: RunProgressFields, event: EngineEvent): boolean {
  switch (event.type) {
    case 'provider':
      r.provider = event.provider;
      r.providerNote = providerNote(event);
      return true;
    case 'memory':
      r.memoryNote = event.enough ? null : event.message;
      return !event.enough;
    case 'epoch': {
      r.epochs = r.epochs.filter((e) => e.epoch !== event.epoch).concat(event);
      const acc = validAccuracy(event.valAccuracy);
      if (acc !== null) r.bestValAccuracy = Math.max(validAccuracy(r.bestValAccuracy) ?? 0, acc);
      return true;
    }
    case 'step':
      r.steps.push({ epoch: event.epoch, step: event.step, loss: event.loss });
      if (r.steps.length > MAX_STEPS) r.steps = r.steps.filter((_, i) => i % 2 === 0);
      return false;
    default:
      return false;
  }
}
