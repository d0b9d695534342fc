/**
 * e2e transport: serves the renderer through Vite and the REAL main-process handlers over HTTP
 * (POST /__attune/invoke, server-sent events on /__attune/events). Engine jobs run in a forked Node
 * process hosting the same main/jobs/worker.ts that Electron runs as a utility process.
 *
 * Dialogs are the only stand-in: tests queue the path a user would pick (POST /__attune/test/dialog).
 * Run standalone for manual checks: `npx tsx e2e/bridge-server.ts` (prints the URL).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer as createViteServer } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import { CSP } from '../main/security/csp';
import type { AppEvent } from '../main/ipc/types';
import type { HandlerContext } from '../main/ipc/handlers';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Bridge {
  url: string;
  userData: string;
  ctx: HandlerContext;
  /** paths the next dialogs return (null = the user cancelled) */
  dialogAnswers: (string | null)[];
  close(): Promise<void>;
}

export interface BridgeOptions {
  userData?: string;
  catalogue?: string | null;
  port?: number;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((res, rej) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      s += c;
      if (s.length > 1e6) req.destroy();
    });
    req.on('end', () => res(s));
    req.on('error', rej);
  });
}

export async function startBridge(opts: BridgeOptions = {}): Promise<Bridge> {
  const userData = opts.userData ?? (await mkdtemp(join(tmpdir(), 'attune-e2e-')));
  const clients = new Set<ServerResponse>();
  const dialogAnswers: (string | null)[] = [];
  const emit = (e: AppEvent) => {
    const line = `data: ${JSON.stringify(e)}\n\n`;
    for (const c of clients) c.write(line);
  };
  const nextAnswer = async () => (dialogAnswers.length ? (dialogAnswers.shift() ?? null) : null);
  const ctx = await createContext({
    userData,
    workerFactory: nodeWorkerFactory(join(repo, 'main/jobs/worker.ts')),
    dialogs: { chooseFolder: nextAnswer, chooseFile: nextAnswer },
    emit,
    version: '0.1.0-e2e',
    platform: process.platform,
    transport: 'browser',
    catalogueOverride: opts.catalogue ?? null,
  });

  // assigned below, once the HTTP server exists (Vite's HMR attaches to it)
  let vite!: Awaited<ReturnType<typeof createViteServer>>;
  const server = createHttpServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/__attune/invoke' && req.method === 'POST') {
        const { channel, request } = JSON.parse(await readBody(req)) as { channel: unknown; request: unknown };
        const envelope = await dispatch(ctx, channel, request);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(envelope));
        return;
      }
      if (url.pathname === '/__attune/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (url.pathname === '/__attune/test/dialog' && req.method === 'POST') {
        dialogAnswers.push(...(JSON.parse(await readBody(req)) as (string | null)[]));
        res.writeHead(204).end();
        return;
      }
      // the same CSP header Electron adds in main/index.ts
      res.setHeader('Content-Security-Policy', CSP);
      vite.middlewares(req, res, () => res.writeHead(404).end());
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  vite = await createViteServer({
    configFile: false,
    root: join(repo, 'renderer'),
    plugins: [svelte()],
    logLevel: 'warn',
    appType: 'spa',
    // HMR's websocket shares this server's port, so the strict CSP (connect-src 'self') allows it
    server: { middlewareMode: true, hmr: { server } },
  });

  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    url: `http://127.0.0.1:${port}/`,
    userData,
    ctx,
    dialogAnswers,
    async close() {
      for (const c of clients) c.end();
      ctx.jobs.dispose();
      await vite.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Browser-side stand-in for the preload: the same AttuneApi shape over fetch + EventSource.
 * Plain JavaScript text (injected with page.addInitScript({ content })), so no bundler helpers leak in.
 */
export const PRELOAD_SHIM = `(() => {
  const listeners = new Set();
  let source = null;
  const ensureSource = () => {
    if (source) return;
    source = new EventSource('/__attune/events');
    source.onmessage = (m) => { const e = JSON.parse(m.data); for (const l of listeners) l(e); };
  };
  window.attune = Object.freeze({
    async invoke(channel, request) {
      const res = await fetch('/__attune/invoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel, request }) });
      return res.json();
    },
    onEvent(cb) { ensureSource(); listeners.add(cb); return () => listeners.delete(cb); },
    async grantDropped() {
      throw Object.assign(new Error('Dropping files needs the desktop app.'), { hint: 'Use the Choose button instead.' });
    },
  });
})();`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const b = await startBridge({ catalogue: process.env.ATTUNE_CATALOGUE ?? resolve(repo, '../shared/models'), port: Number(process.env.PORT ?? 5199) });
  console.log(`Attune e2e bridge: ${b.url} (userData in a temp folder)`);
}
