/**
 * An error a user can act on: what went wrong and what to do about it.
 * The CLI prints `message` and `hint`; the app shows them as-is.
 */
export class AttuneError extends Error {
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
