/**
 * Browser mode's security, against the server `npm start` runs (no browser needed): token then cookie,
 * Host and Origin checks against DNS rebinding, CSP, schema validation, and no path outside the allowed roots.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shared, startApp, type StartedApp } from './helpers';
import { allowedHosts, check } from '../main/server/guard';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  app: StartedApp,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Reply> {
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: app.port,
        path,
        method: o.method ?? 'GET',
        headers: {
          host: `127.0.0.1:${app.port}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('browser mode server (started by npm start)', () => {
  let app: StartedApp;
  let cookie: string;
  let outside: string;
  const invoke = (channel: string, req: unknown, headers: Record<string, string> = {}) =>
    send(app, '/api/invoke', { method: 'POST', body: { channel, request: req }, headers: { cookie, ...headers } });

  before(async () => {
    // roots: the shared data only; a temp folder outside them, and a link from inside pointing out of them
    outside = await mkdtemp(join(tmpdir(), 'attune-outside-'));
    const root = await mkdtemp(join(tmpdir(), 'attune-root-'));
    await symlink(outside, join(root, 'escape'));
    app = await startApp({ roots: [join(shared, 'datasets'), root] });
  });

  after(async () => {
    await app?.stop();
  });

  it('prints a tokened address on 127.0.0.1 and serves nothing without the token', async () => {
    assert.match(app.openUrl, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{24,}$/);
    for (const path of ['/', '/index.html', '/api/events']) assert.equal((await send(app, path)).status, 401, path);
    assert.equal(
      (await send(app, '/api/invoke', { method: 'POST', body: { channel: 'app:info', request: {} } })).status,
      401,
    );
    assert.equal((await send(app, '/?token=wrong-token-of-the-same-length-00')).status, 401);
  });

  it('turns the token into an HttpOnly SameSite cookie and serves the app with its CSP', async () => {
    const r = await send(app, `/?token=${app.token}`);
    assert.equal(r.status, 302);
    const set = String(r.headers['set-cookie']);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    cookie = set.split(';')[0];
    const page = await send(app, '/', { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.match(page.body, /<div id="app">/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
    const info = JSON.parse((await invoke('app:info', {})).body);
    assert.equal(info.ok, true);
    assert.equal(info.value.transport, 'browser');
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin with 403, even with the token', async () => {
    assert.equal((await send(app, '/', { headers: { cookie, host: `evil.example:${app.port}` } })).status, 403);
    assert.equal((await invoke('app:info', {}, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await invoke('app:info', {}, { origin: `https://127.0.0.1:${app.port}` })).status, 403);
    assert.equal((await invoke('app:info', {}, { origin: `http://127.0.0.1:${app.port}` })).status, 200);
  });

  it('validates every request with the channel schemas', async () => {
    const bad = JSON.parse((await invoke('projects:create', { name: 42 })).body);
    assert.equal(bad.error.code, 'invalid-request');
    const unknown = JSON.parse((await invoke('fs:readFile', { path: '/etc/passwd' })).body);
    assert.equal(unknown.error.code, 'unknown-channel');
    assert.equal(
      (await send(app, '/api/invoke', { method: 'POST', headers: { cookie, 'content-type': 'text/plain' } })).status,
      405,
    );
  });

  it('lists only folders under the allowed roots, and refuses paths outside them (links included)', async () => {
    const roots = JSON.parse((await invoke('files:list', {})).body);
    assert.ok(roots.ok && roots.value.entries.some((e: { path: string }) => e.path === join(shared, 'datasets')));
    const inside = JSON.parse((await invoke('files:list', { path: join(shared, 'datasets') })).body);
    assert.ok(inside.ok && inside.value.entries.some((e: { name: string }) => e.name === 'busi-ultrasound'));
    for (const path of ['/etc', join(shared, 'models'), join(shared, 'datasets', '..', 'models'), outside]) {
      const r = JSON.parse((await invoke('files:list', { path })).body);
      assert.equal(r.ok, false, path);
      assert.equal(r.error.code, 'outside-roots', path);
    }
    const linkRoot = roots.value.entries
      .map((e: { path: string }) => e.path)
      .find((p: string) => p.includes('attune-root-'));
    const viaLink = JSON.parse((await invoke('files:list', { path: join(linkRoot, 'escape') })).body);
    assert.equal(viaLink.error?.code, 'outside-roots');
    // the choose channels check what the page picked in the same way
    const p = JSON.parse((await invoke('projects:create', { name: 'Roots' })).body).value;
    const chose = JSON.parse((await invoke('data:chooseFolder', { projectId: p.id, path: '/etc' })).body);
    assert.equal(chose.error?.code, 'outside-roots');
    const ok = JSON.parse(
      (await invoke('data:chooseFolder', { projectId: p.id, path: join(shared, 'datasets', 'busi-ultrasound') })).body,
    );
    assert.equal(ok.ok, true);
    // reading is confined to what was chosen
    const thumbs = JSON.parse((await invoke('data:thumbnails', { files: ['/etc/passwd'] })).body);
    assert.equal(thumbs.error?.code, 'not-allowed');
  });
});

describe('npm start on a machine without a display', () => {
  it('says why and serves the app in the browser instead', { timeout: 180_000 }, async () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const app = await startApp({ args: ['--no-open'], env });
    try {
      assert.match(app.output(), /No display here|not installed and cannot be downloaded|SSH session/);
      assert.match(app.output(), /Attune is running in your browser at/);
      const r = await send(app, `/?token=${app.token}`);
      assert.equal(r.status, 302);
    } finally {
      await app.stop();
    }
  });
});

describe('request guard', () => {
  const hosts = allowedHosts(8000);
  const base = { host: '127.0.0.1:8000', origin: undefined, cookie: undefined, presented: 'tok' };
  it('accepts loopback names with the token, refuses everything else', () => {
    assert.deepEqual(check(base, 'tok', 8000, hosts), { ok: true });
    assert.deepEqual(check({ ...base, host: 'localhost:8000' }, 'tok', 8000, hosts), { ok: true });
    assert.equal(check({ ...base, presented: null }, 'tok', 8000, hosts).ok, false);
    assert.deepEqual(check({ ...base, presented: null, cookie: 'a=b; attune-token-8000=tok' }, 'tok', 8000, hosts), {
      ok: true,
    });
    assert.equal(check({ ...base, cookie: 'attune-token-9000=tok', presented: null }, 'tok', 8000, hosts).ok, false);
    assert.equal(check({ ...base, host: 'attacker.test:8000' }, 'tok', 8000, hosts).ok, false);
    assert.equal(check({ ...base, host: '127.0.0.1:8001' }, 'tok', 8000, hosts).ok, false);
    assert.equal(check({ ...base, origin: 'null' }, 'tok', 8000, hosts).ok, false);
  });
  it('answers to the --host name too', () => {
    const h = allowedHosts(8000, 'gpu-box.lan');
    assert.deepEqual(check({ ...base, host: 'gpu-box.lan:8000', origin: 'http://gpu-box.lan:8000' }, 'tok', 8000, h), {
      ok: true,
    });
  });
});
