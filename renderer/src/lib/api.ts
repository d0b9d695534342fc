/** Typed access to `window.attune` (the preload API). Errors carry what happened and what to do. */
import type { Channel, Request, Response } from '@main/ipc/contract';
import type { AppEvent } from '@main/ipc/types';
import type { UserErrorInfo } from '@main/ipc/errors';

/**
 * An error from main (or the bridge), rebuilt in the renderer: the engine's AttuneError shape, as a class of its own
 * because the sandboxed renderer takes only types from main and the engine.
 */
export class ApiError extends Error implements UserErrorInfo {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

function bridge() {
  if (!window.attune) {
    throw new ApiError(
      'no-bridge',
      'Attune’s app bridge is missing.',
      'Start Attune from its launcher (npm start), not by opening the page in a browser.',
    );
  }
  return window.attune;
}

export async function call<C extends Channel>(channel: C, request: Request<C>): Promise<Response<C>> {
  const env = await bridge().invoke(channel, request);
  if (!env.ok) throw new ApiError(env.error.code, env.error.message, env.error.hint);
  return env.value;
}

export function onAppEvent(cb: (e: AppEvent) => void): () => void {
  return window.attune ? window.attune.onEvent(cb) : () => undefined;
}

export function grantDropped(file: File): Promise<string> {
  return bridge().grantDropped(file);
}

export function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (
    e &&
    typeof e === 'object' &&
    typeof (e as ApiError).message === 'string' &&
    typeof (e as ApiError).hint === 'string'
  ) {
    const o = e as { code?: string; message: string; hint: string };
    return new ApiError(o.code ?? 'error', o.message, o.hint);
  }
  return new ApiError('internal', e instanceof Error ? e.message : String(e), 'Try again; if it persists, report it.');
}
