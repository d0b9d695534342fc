/**
 * Browser mode's `window.attune`: the same AttuneApi the Electron preload exposes, over HTTP to the server
 * `npm start` runs (main/server). The session cookie authenticates every request; in Electron the preload has
 * already defined `window.attune`, and this does nothing.
 */
import type { AttuneApi } from '@main/ipc/contract';
import type { AppEvent } from '@main/ipc/types';

function installWebBridge(): void {
  if (window.attune) return;
  const listeners = new Set<(e: AppEvent) => void>();
  let source: EventSource | null = null;
  const ensureSource = () => {
    if (source) return;
    source = new EventSource('/api/events');
    source.onmessage = (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as AppEvent;
      for (const l of listeners) l(e);
    };
  };
  const api: AttuneApi = {
    async invoke(channel, request) {
      const res = await fetch('/api/invoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, request }),
        credentials: 'same-origin',
      });
      if (res.status === 401 || res.status === 403) {
        return {
          ok: false,
          error: {
            code: 'session',
            message: 'This page is no longer connected to Attune.',
            hint: 'Open the address printed in the terminal where `npm start` runs.',
          },
        };
      }
      return res.json();
    },
    onEvent(cb) {
      ensureSource();
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    async grantDropped() {
      throw Object.assign(new Error('Dropping files works in the desktop app only.'), {
        hint: 'Use the Choose button: it opens Attune’s file browser.',
      });
    },
  };
  Object.defineProperty(window, 'attune', { value: Object.freeze(api), writable: false });
}

installWebBridge();
