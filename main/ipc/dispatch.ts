/** Validate → handle → envelope. Used by every transport (Electron ipcMain, the e2e HTTP bridge). */
import { contract, FIELD_NAMES, type Channel, type Envelope } from './contract';
import { handlers, type HandlerContext } from './handlers';
import { CHANNEL_PREFIXES } from './channels';
import { toUserError } from './errors';

function isChannel(c: unknown): c is Channel {
  return typeof c === 'string' && Object.hasOwn(contract, c) && CHANNEL_PREFIXES.some((p) => c.startsWith(p));
}

export async function dispatch(ctx: HandlerContext, channel: unknown, raw: unknown): Promise<Envelope<unknown>> {
  if (!isChannel(channel)) {
    return {
      ok: false,
      error: {
        code: 'unknown-channel',
        message: `Unknown request "${String(channel)}".`,
        hint: 'This is a bug in Attune; please report it.',
      },
    };
  }
  const parsed = contract[channel].safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    const field =
      FIELD_NAMES[path] ?? FIELD_NAMES[path.split('.').pop() ?? ''] ?? (path ? `The value “${path}”` : 'The request');
    return {
      ok: false,
      error: {
        code: 'invalid-request',
        message: issue
          ? `${field} ${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}.`
          : 'Some input was not valid.',
        hint: 'Correct the value and try again; nothing was changed.',
      },
    };
  }
  try {
    const handler = handlers[channel] as (req: unknown, ctx: HandlerContext) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.data, ctx) };
  } catch (e) {
    const error = toUserError(e);
    if (error.code === 'internal') console.error(`[attune] ${channel} failed`, e);
    return { ok: false, error };
  }
}
