/**
 * Main-process pieces without a browser: message validation, the file allow-list, workspace persistence,
 * the model cache (resume + checksum), and a worker crash that is reported instead of taking the app down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, stat, truncate, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext } from '../main/context';
import { dispatch } from '../main/ipc/dispatch';
import { nodeWorkerFactory } from '../main/jobs/node-worker';
import { JobHost } from '../main/jobs/job-host';
import { AllowList } from '../main/security/allow-list';
import { ModelCache, loadCatalogue } from '../main/catalogue/catalogue';
import { Workspace } from '../main/workspace/workspace';
import { repo, shared } from './helpers';

const worker = join(repo, 'main/jobs/worker.ts');

async function context(dialogAnswers: (string | null)[] = []) {
  const userData = await mkdtemp(join(tmpdir(), 'attune-main-'));
  return createContext({
    userData,
    workerFactory: nodeWorkerFactory(worker),
    dialogs: { chooseFolder: async () => dialogAnswers.shift() ?? null, chooseFile: async () => dialogAnswers.shift() ?? null },
    emit: () => undefined,
    version: 'test',
    platform: process.platform,
    transport: 'e2e-bridge',
    catalogueOverride: join(shared, 'models'),
  });
}

describe('IPC validation', () => {
  it('refuses unknown channels and malformed requests with a message and a hint', async () => {
    const ctx = await context();
    const unknown = await dispatch(ctx, 'fs:readFile', { path: '/etc/passwd' });
    assert.equal(unknown.ok, false);
    const bad = await dispatch(ctx, 'projects:create', { name: '' });
    assert.ok(!bad.ok && bad.error.code === 'invalid-request' && bad.error.hint.length > 0);
    const extra = await dispatch(ctx, 'projects:create', { name: 'x', evil: true });
    assert.equal(extra.ok, false);
    const ok = await dispatch(ctx, 'projects:create', { name: 'Chest X-ray' });
    assert.ok(ok.ok);
    ctx.jobs.dispose();
  });

  it('only reads files under folders the user chose', async () => {
    const ctx = await context();
    const thumbs = await dispatch(ctx, 'data:thumbnails', { files: [join(shared, 'datasets/busi-ultrasound/benign/benign (1).png')] });
    assert.ok(!thumbs.ok && thumbs.error.code === 'not-allowed');
    const tryIt = await dispatch(ctx, 'export:try', { modelPath: '/etc/model.onnx', file: '/etc/passwd' });
    assert.ok(!tryIt.ok && tryIt.error.code === 'not-allowed');
    ctx.jobs.dispose();
  });
});

describe('AllowList', () => {
  it('allows chosen roots and their children only', () => {
    const a = new AllowList();
    a.allow('/data/scans');
    assert.ok(a.isAllowed('/data/scans/a/b.png'));
    assert.ok(!a.isAllowed('/data/scans-other/x.png'));
    assert.ok(!a.isAllowed('/data/scans/../secrets'));
    assert.ok(!a.isAllowed('relative/path'));
  });
});

describe('Workspace', () => {
  it('persists projects and marks runs left "running" as interrupted after a restart', async () => {
    const root = await mkdtemp(join(tmpdir(), 'attune-ws-'));
    const ws = new Workspace(root);
    const p = await ws.createProject('Aerial scenes');
    await ws.saveRun({
      id: '20260101000000-abcdef', projectId: p.id, createdAt: new Date().toISOString(), finishedAt: null, status: 'running',
      request: { dataPath: '/d', modelPath: '/m.onnx', method: 'linear-probe', epochs: 1, batchSize: 8, learningRate: 0.01, seed: 1, outDir: '/o', provider: 'cpu', split: { valFraction: 0.15, testFraction: 0.15, seed: 1 } },
      runDir: '/o', modelName: 'm', provider: null, providerNote: null, epochs: [], steps: [], bestValAccuracy: null, testAccuracy: null, error: null, exports: [],
    });
    const again = new Workspace(root);
    assert.equal((await again.listProjects())[0].name, 'Aerial scenes');
    assert.equal(await again.markInterrupted(new Set()), 1);
    assert.equal((await again.getRun(p.id, '20260101000000-abcdef')).status, 'interrupted');
  });
});

describe('Model catalogue and cache', () => {
  it('lists the shared models with pinned checksums, resumes a partial copy and verifies it', async () => {
    const entries = await loadCatalogue(join(shared, 'models'));
    const vit = entries.find((e) => e.id === 'vit-tiny-patch16-224');
    assert.ok(vit?.sha256 && vit.recommended);
    const cache = new ModelCache(await mkdtemp(join(tmpdir(), 'attune-cache-')));
    // a partial download from an earlier session
    const part = cache.pathFor(vit) + '.part';
    await mkdir(join(cache.dir, vit.id), { recursive: true });
    await copyFile(vit.location!, part);
    await truncate(part, 5_000_000);
    let firstReport = -1;
    const path = await cache.fetch(vit, { signal: new AbortController().signal, onProgress: (r) => (firstReport = firstReport < 0 ? r : firstReport) });
    assert.equal((await stat(path)).size, vit.sizeBytes);
    assert.ok(firstReport >= 5_000_000, 'resumed from the partial file');
    assert.equal((await cache.view(vit)).cached, true);
  });

  it('rejects a file whose checksum does not match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attune-badcat-'));
    await writeFile(join(dir, 'tiny.onnx'), 'not a model');
    await writeFile(join(dir, 'catalogue.json'), JSON.stringify([{ id: 'tiny', name: 'Tiny', file: 'tiny.onnx', sha256: '0'.repeat(64), inputSize: 32, description: '', licence: 'x', recommended: false, url: null, sizeBytes: 11, parameters: 1, preprocessing: { size: 32, mean: [0, 0, 0], std: [1, 1, 1] } }]));
    const [e] = await loadCatalogue(dir);
    const cache = new ModelCache(await mkdtemp(join(tmpdir(), 'attune-cache-')));
    await assert.rejects(cache.fetch(e, { signal: new AbortController().signal, onProgress: () => undefined }), (err: Error & { code?: string }) => err.code === 'checksum');
  });
});

describe('Job host', () => {
  it('reports a crashed worker as an error and keeps working', async () => {
    const jobs = new JobHost(nodeWorkerFactory(worker));
    await assert.rejects(jobs.call('crash', [], { dedicated: true }), (e: Error & { code?: string; hint?: string }) => e.code === 'worker-crashed' && !!e.hint);
    await assert.rejects(jobs.call('crash', []), (e: Error & { code?: string }) => e.code === 'worker-crashed');
    const caps = await jobs.call<Record<string, boolean>>('capabilities', []);
    assert.equal(typeof caps.scanDataset, 'boolean');
    jobs.dispose();
  });
});
