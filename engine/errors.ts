/** What a user is told about an error: what went wrong and what to do about it (every IPC/HTTP error carries it). */
export interface UserErrorInfo {
  code: string;
  message: string;
  hint: string;
}

/**
 * An error a user can act on, thrown by the engine and by the app's main process alike.
 * The CLI prints `message` and `hint`; the app shows them as-is.
 */
export class AttuneError extends Error implements UserErrorInfo {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AttuneError';
  }
}

export function isAttuneError(e: unknown): e is AttuneError {
  return e instanceof AttuneError;
}
