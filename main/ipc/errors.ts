/** Errors in the main process are the engine's: one class (AttuneError) and one shape (UserErrorInfo). */
import { AttuneError, type UserErrorInfo } from '../../engine/errors';

export { AttuneError, type UserErrorInfo };

/** Any thrown value → a message + hint for the user (engine AttuneErrors keep their own). */
export function toUserError(e: unknown): UserErrorInfo {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown; hint?: unknown; name?: unknown };
    if (typeof o.message === 'string' && typeof o.hint === 'string') {
      return { code: typeof o.code === 'string' ? o.code : 'error', message: o.message, hint: o.hint };
    }
    if (o.name === 'AbortError')
      return { code: 'cancelled', message: 'The operation was cancelled.', hint: 'Start it again when you are ready.' };
    if (typeof o.code === 'string' && typeof o.message === 'string') {
      if (o.code === 'ENOENT')
        return {
          code: 'not-found',
          message: o.message,
          hint: 'Check that the file or folder still exists and is not on a disconnected drive.',
        };
      if (o.code === 'EACCES' || o.code === 'EPERM')
        return {
          code: 'permission',
          message: o.message,
          hint: 'Attune cannot read or write this location. Choose a folder you have access to.',
        };
      if (o.code === 'ENOSPC')
        return {
          code: 'disk-full',
          message: 'The disk is full.',
          hint: 'Free some space or change the workspace folder in Settings.',
        };
    }
    if (typeof o.message === 'string') {
      return {
        code: 'internal',
        message: o.message,
        hint: 'This looks like a bug in Attune. Try again; if it persists, report it with the steps you took.',
      };
    }
  }
  return {
    code: 'internal',
    message: String(e),
    hint: 'This looks like a bug in Attune. Try again; if it persists, report it.',
  };
}
