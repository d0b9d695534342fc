/**
 * Browser mode: the same renderer, the same validated handlers (main/ipc/dispatch.ts) and the same engine worker
 * as the desktop app, served over HTTP on 127.0.0.1 (or --host). `npm start` uses it where Electron cannot open a
 * window: offline installs, headless machines, GPU servers reached over SSH.
 *
 *   GET  /?token=…      sets the session cookie and redirects to /
 *   GET  /…             the built renderer (out/renderer), with the app's CSP
 *   POST /api/invoke    { channel, request } → the envelope dispatch() returns
 *   GET  /api/events    server-sent events (AppEvent)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { createContext } from '../context';
import { dispatch } from '../ipc/dispatch';
import { AttuneError } from '../ipc/errors';
import type { Dialogs, HandlerContext } from '../ipc/handler-context';
import { withinRoots } from '../ipc/areas/files';
import type { WorkerFactory } from '../jobs/job-host';
import type { AppEvent } from '../ipc/types';
import { CSP } from '../security/csp';
import { allowedHosts, check, cookieName, newToken } from './guard';

export interface ServerOptions {
  userData: string;
  rendererDir: string;
  workerFactory: WorkerFactory;
  /** folders the in-app file browser may show */
  roots: string[];
  host?: string;
  /** 0 = a free port */
  port?: number;
  token?: string;
  version: string;
  catalogue?: string | null;
}

export interface AppServer {
  url: string;
  /** the URL with the token: what the user opens */
  openUrl: string;
  port: number;
  token: string;
  ctx: HandlerContext;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function readBody(req: IncomingMessage, limit = 1_000_000): Promise<string> {
  return new Promise((res, rej) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
      if (s.length > limit) {
        rej(new Error('request too large'));
        req.destroy();
      }
    });
    req.on('end', () => res(s));
    req.on('error', rej);
  });
}

/** the in-app file browser in place of native dialogs: what the page picked, checked against the allowed roots */
function browserDialogs(roots: () => string[]): Dialogs {
  const pick = async (chosen: string | undefined, kind: 'folder' | 'file', extensions?: string[]) => {
    if (!chosen)
      throw new AttuneError(
        'pick-in-app',
        'Choose the location in Attune’s file browser.',
        'Reload the page if the browser did not open.',
      );
    const real = await withinRoots(roots(), chosen);
    const st = await stat(real);
    if (kind === 'folder' && !st.isDirectory())
      throw new AttuneError('not-a-folder', `${chosen} is a file, not a folder.`, 'Pick a folder.');
    if (kind === 'file' && !st.isFile())
      throw new AttuneError(
        'not-a-file',
        `${chosen} is a folder, not a file.`,
        'Open the folder and pick a file in it.',
      );
    if (kind === 'file' && extensions?.length && !extensions.some((e) => real.toLowerCase().endsWith(`.${e}`))) {
      throw new AttuneError(
        'wrong-file-type',
        `${chosen} is not a ${extensions.join(' / ')} file.`,
        `Pick a file ending in .${extensions.join(', .')}.`,
      );
    }
    return real;
  };
  return {
    chooseFolder: (_o, chosen) => pick(chosen, 'folder'),
    chooseFile: (o, chosen) =>
      pick(
        chosen,
        'file',
        o.filters?.flatMap((f) => f.extensions),
      ),
  };
}

export async function startServer(o: ServerOptions): Promise<AppServer> {
  const token = o.token ?? newToken();
  const clients = new Set<ServerResponse>();
  const emit = (e: AppEvent) => {
    const line = `data: ${JSON.stringify(e)}\n\n`;
    for (const c of clients) c.write(line);
  };
  let roots: string[] = [];
  const ctx = await createContext({
    userData: o.userData,
    workerFactory: o.workerFactory,
    dialogs: browserDialogs(() => roots),
    emit,
    version: o.version,
    platform: process.platform,
    transport: 'browser',
    catalogueOverride: o.catalogue ?? null,
  });
  const s = await ctx.settings.get();
  roots = [...new Set([...o.roots, s.workspace])];
  ctx.browseRoots = roots;

  let port = 0;
  let hosts = new Set<string>();
  const deny = (res: ServerResponse, status: number, text: string) =>
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end(text);

  const server: Server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://placeholder');
      const presented =
        url.searchParams.get('token') ?? /^token\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? null;
      const verdict = check(
        { host: req.headers.host, origin: req.headers.origin, cookie: req.headers.cookie, presented },
        token,
        port,
        hosts,
      );
      if (!verdict.ok) {
        deny(
          res,
          verdict.status,
          verdict.status === 401
            ? 'Attune needs its access token. Open the full address printed in the terminal where `npm start` runs (it ends in ?token=…).'
            : `Refused: ${verdict.reason}.`,
        );
        return;
      }
      if (url.searchParams.has('token')) {
        // the token moves into a cookie the page's scripts cannot read, and out of the address bar
        res
          .writeHead(302, {
            'Set-Cookie': `${cookieName(port)}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
            Location: '/',
            ...SECURITY_HEADERS,
          })
          .end();
        return;
      }
      if (url.pathname === '/api/invoke') {
        if (req.method !== 'POST' || !(req.headers['content-type'] ?? '').startsWith('application/json'))
          return deny(res, 405, 'POST JSON only.');
        let body: { channel?: unknown; request?: unknown };
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch {
          return deny(res, 400, 'The request was not valid JSON.');
        }
        const envelope = await dispatch(ctx, body?.channel, body?.request);
        res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS }).end(JSON.stringify(envelope));
        return;
      }
      if (url.pathname === '/api/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY_HEADERS });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'Method not allowed.');
      await serveStatic(o.rendererDir, url.pathname, res);
    } catch (e) {
      if (!res.headersSent) deny(res, 500, `Attune could not answer: ${(e as Error).message}`);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  hosts = allowedHosts(port, o.host);
  const shownHost =
    !o.host || o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${shownHost}:${port}/`;
  return {
    url,
    openUrl: `${url}?token=${token}`,
    port,
    token,
    ctx,
    async close() {
      for (const c of clients) c.end();
      ctx.jobs.dispose();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function serveStatic(dir: string, pathname: string, res: ServerResponse): Promise<void> {
  const rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
  let file = join(dir, rel || 'index.html');
  if (!file.startsWith(dir + sep) && file !== dir) return void res.writeHead(404, SECURITY_HEADERS).end();
  // the app is one page: unknown paths get index.html
  if (!(await stat(file).catch(() => null))?.isFile()) file = join(dir, 'index.html');
  const body = await readFile(file);
  res
    .writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...SECURITY_HEADERS })
    .end(body);
}
