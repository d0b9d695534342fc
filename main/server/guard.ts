/**
 * Browser mode's request guard, as in Jupyter: an unguessable token (given once in the URL, then an HttpOnly
 * SameSite=Strict cookie), Host and Origin checked against DNS rebinding and cross-site requests.
 * Pure functions of the request headers, so they are tested without a server.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

function sameToken(a: string | null | undefined, b: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** cookie name per port, so two Attune servers on one machine do not overwrite each other's cookie */
export const cookieName = (port: number) => `attune-token-${port}`;

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

/** Host header values this server answers to: loopback names, plus the host given with --host. */
export function allowedHosts(port: number, extraHost?: string): Set<string> {
  const names = ['127.0.0.1', 'localhost', '[::1]'];
  if (extraHost && !['0.0.0.0', '::'].includes(extraHost))
    names.push(extraHost.includes(':') ? `[${extraHost}]` : extraHost);
  return new Set(names.map((n) => `${n}:${port}`.toLowerCase()));
}

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };

export interface GuardInput {
  host: string | undefined;
  origin: string | undefined;
  cookie: string | undefined;
  /** token from the URL (?token=) or an `Authorization: token …` header */
  presented: string | null;
}

export function check(req: GuardInput, token: string, port: number, hosts: Set<string>): Verdict {
  // a rebound DNS name reaches us with its own Host header: refuse it before anything else
  if (!req.host || !hosts.has(req.host.toLowerCase())) return { ok: false, status: 403, reason: 'unknown Host' };
  if (req.origin !== undefined) {
    let originHost: string | null;
    try {
      const u = new URL(req.origin);
      originHost = u.protocol === 'http:' ? u.host.toLowerCase() : null;
    } catch {
      originHost = null;
    }
    if (!originHost || !hosts.has(originHost)) return { ok: false, status: 403, reason: 'foreign Origin' };
  }
  if (sameToken(req.presented, token) || sameToken(cookieValue(req.cookie, cookieName(port)), token))
    return { ok: true };
  return { ok: false, status: 401, reason: 'no valid token' };
}
