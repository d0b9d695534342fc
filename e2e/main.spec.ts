/**
 * Main-process pieces without a browser: message validation, the file allow-list, workspace persistence,
 * the model cache (resume + checksum), and a worker crash that is reported instead of taking the app down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, truncate, writeFile, copyFile, mkdir } from 'node:fs/promises';
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
import { call, until } from './handler-harness';
import type { AppEvent } from '../main/ipc/types';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const worker = join(repo, 'main/jobs/worker.ts');

/** Kills this test process's engine workers, as a crash would (not through the job host). Linux: reads /proc. */
function killEngineProcesses(): void {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces, so read after the last ')'
    const stat = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return '';
      }
    })();
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) process.kill(Number(pid), 'SIGKILL');
  }
}

async function context(
  dialogAnswers: (string | null)[] = [],
  emit: (e: AppEvent) => void = () => undefined,
  userDataDir?: string,
) {
  const userData = userDataDir ?? (await mkdtemp(join(tmpdir(), 'attune-main-')));
  return createContext({
    userData,
    workerFactory: nodeWorkerFactory(worker),
    dialogs: {
      chooseFolder: async () => dialogAnswers.shift() ?? null,
      chooseFile: async () => dialogAnswers.shift() ?? null,
    },
    emit,
    version: 'test',
    platform: process.platform,
    transport: 'browser',
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
    // an out-of-range field is named in words, not as a schema path
    const split = await dispatch(ctx, 'projects:update', {
      id: (ok.value as { id: string }).id,
      split: { valFraction: 0.9, testFraction: 0.15, seed: 1 },
    });
    assert.ok(!split.ok);
    assert.equal(split.error.message, 'Validation share must be at most 40 %.');
    ctx.jobs.dispose();
  });

  it('only reads files under folders the user chose', async () => {
    const ctx = await context();
    const thumbs = await dispatch(ctx, 'data:thumbnails', {
      files: [join(shared, 'datasets/busi-ultrasound/benign/benign (1).png')],
    });
    assert.ok(!thumbs.ok && thumbs.error.code === 'not-allowed');
    const tryIt = await dispatch(ctx, 'export:try', { modelPath: '/etc/model.onnx', file: '/etc/passwd' });
    assert.ok(!tryIt.ok && tryIt.error.code === 'not-allowed');
    ctx.jobs.dispose();
  });
});

describe('Previews of DICOM images', () => {
  it('thumbnails of DICOM files come from the engine, through the chosen window', async () => {
    const ctx = await context();
    const dir = join(shared, 'datasets/ct-contrast-dicom/CONTRAST_1');
    ctx.allow.allow(dir);
    const file = join(dir, 'ID_0000_AGE_0060_CONTRAST_1_CT.dcm');
    const plain = await dispatch(ctx, 'data:thumbnails', { files: [file] });
    const lung = await dispatch(ctx, 'data:thumbnails', { files: [file], window: 'lung' });
    const bone = await dispatch(ctx, 'data:thumbnails', { files: [file], window: '400,1800' });
    assert.ok(plain.ok && lung.ok && bone.ok);
    const url = (r: Awaited<ReturnType<typeof dispatch>>) =>
      r.ok ? (r.value as { dataUrl: string | null }[])[0].dataUrl : null;
    assert.match(url(plain) ?? '', /^data:image\/jpeg;base64,/);
    assert.notEqual(url(lung), url(bone), 'the window changes the preview');
    const bad = await dispatch(ctx, 'data:thumbnails', { files: [file], window: 'rm -rf /; echo' });
    assert.ok(!bad.ok && bad.error.code === 'invalid-request');
    // the chosen window is the project's: saved with its data, and what training receives
    const created = await dispatch(ctx, 'projects:create', { name: 'CT contrast' });
    assert.ok(created.ok);
    const id = (created.value as { id: string }).id;
    assert.ok((await dispatch(ctx, 'data:useDropped', { projectId: id, path: dir })).ok);
    const updated = await dispatch(ctx, 'projects:update', { id, window: 'mediastinum' });
    assert.ok(updated.ok && (updated.value as { data?: { window?: string } }).data?.window === 'mediastinum');
    const refused = await dispatch(ctx, 'projects:update', { id, window: '$(reboot)' });
    assert.ok(!refused.ok && refused.error.code === 'invalid-request');
    // multispectral: thumbnails through the band choice, saved with the project's data like the window
    const ms = join(shared, 'datasets/eurosat-ms/Forest');
    ctx.allow.allow(ms);
    const tile = join(ms, (await readdir(ms)).sort()[0]);
    const tc = await dispatch(ctx, 'data:thumbnails', { files: [tile], bands: 'true-colour' });
    const fc = await dispatch(ctx, 'data:thumbnails', { files: [tile], bands: '8,4,3' });
    assert.ok(url(tc) && url(fc) && url(tc) !== url(fc), 'band choice shows in the preview');
    const withBands = await dispatch(ctx, 'projects:update', { id, bands: 'all' });
    assert.ok(withBands.ok && (withBands.value as { data?: { bands?: string } }).data?.bands === 'all');
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
      id: '20260101000000-abcdef',
      projectId: p.id,
      createdAt: new Date().toISOString(),
      finishedAt: null,
      status: 'running',
      request: {
        dataPath: '/d',
        modelPath: '/m.onnx',
        method: 'linear-probe',
        epochs: 1,
        batchSize: 8,
        learningRate: 0.01,
        seed: 1,
        outDir: '/o',
        provider: 'cpu',
        split: { valFraction: 0.15, testFraction: 0.15, seed: 1 },
      },
      runDir: '/o',
      modelName: 'm',
      provider: null,
      providerNote: null,
      epochs: [],
      steps: [],
      bestValAccuracy: null,
      testAccuracy: null,
      error: null,
      exports: [],
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
    const path = await cache.fetch(vit, {
      signal: new AbortController().signal,
      onProgress: (r) => (firstReport = firstReport < 0 ? r : firstReport),
    });
    assert.equal((await stat(path)).size, vit.sizeBytes);
    assert.ok(firstReport >= 5_000_000, 'resumed from the partial file');
    assert.equal((await cache.view(vit)).cached, true);
  });

  it('rejects a file whose checksum does not match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attune-badcat-'));
    await writeFile(join(dir, 'tiny.onnx'), 'not a model');
    await writeFile(
      join(dir, 'catalogue.json'),
      JSON.stringify([
        {
          id: 'tiny',
          name: 'Tiny',
          file: 'tiny.onnx',
          sha256: '0'.repeat(64),
          inputSize: 32,
          description: '',
          licence: 'x',
          recommended: false,
          url: null,
          sizeBytes: 11,
          parameters: 1,
          preprocessing: { size: 32, mean: [0, 0, 0], std: [1, 1, 1] },
        },
      ]),
    );
    const [e] = await loadCatalogue(dir);
    const cache = new ModelCache(await mkdtemp(join(tmpdir(), 'attune-cache-')));
    await assert.rejects(
      cache.fetch(e, { signal: new AbortController().signal, onProgress: () => undefined }),
      (err: Error & { code?: string }) => err.code === 'checksum',
    );
  });
});

describe('Job host', () => {
  it('reports a crashed worker as an error and keeps working', async () => {
    const jobs = new JobHost(nodeWorkerFactory(worker));
    await assert.rejects(
      jobs.call('crash', [], { dedicated: true }),
      (e: Error & { code?: string; hint?: string }) => e.code === 'worker-crashed' && !!e.hint,
    );
    await assert.rejects(jobs.call('crash', []), (e: Error & { code?: string }) => e.code === 'worker-crashed');
    // the shared worker is replaced and answers the next call
    const listing = await jobs.call('listMethods', [{}]);
    assert.ok(listing.methods.some((m) => m.name === 'linear'));
    jobs.dispose();
  });
});

describe('Engine jobs through the real handlers', () => {
  const linux = process.platform === 'linux' ? false : 'crashes the worker through /proc (Linux only)';
  it(
    'reports a crashed training process, keeps serving, and resumes the run',
    { timeout: 300_000, skip: linux },
    async () => {
      const events: AppEvent[] = [];
      const busi = join(shared, 'datasets', 'busi-ultrasound');
      const ctx = await context([busi], (e) => events.push(e));
      const p = await call(ctx, 'projects:create', { name: 'Crash and resume' });
      await call(ctx, 'data:chooseFolder', { projectId: p.id });
      const scan = await call(ctx, 'data:scan', { projectId: p.id });
      assert.equal(scan.total, 780);
      const { jobId } = await call(ctx, 'models:download', { entryId: 'tiny-cnn-random' });
      await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === jobId), 30_000, 'the model copy');
      await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-cnn-random' });
      await call(ctx, 'projects:update', {
        id: p.id,
        method: { name: 'full', epochs: 2, batchSize: 32, learningRate: 1e-3, seed: 1, options: {} },
      });
      const { runId } = await call(ctx, 'runs:start', { projectId: p.id });
      const finished = () => events.find((e) => e.type === 'job-finished' && e.runId === runId);
      await until(
        () =>
          events.some((e) => e.type === 'job-event' && e.runId === runId && e.event.type === 'step') || !!finished(),
        180_000,
        'a training step',
      );
      assert.equal(finished(), undefined, `training ended early: ${JSON.stringify(finished())}`);

      killEngineProcesses(); // the engine process dies mid-training (SIGKILL, as the OS's out-of-memory killer would)
      await until(() => !!finished(), 10_000, 'the crash report');
      const crash = finished() as Extract<AppEvent, { type: 'job-finished' }>;
      assert.equal(crash.ok, false);
      assert.equal(crash.error?.code, 'worker-crashed');
      const failed = await call(ctx, 'runs:get', { projectId: p.id, runId });
      assert.equal(failed.status, 'failed');
      assert.ok(failed.error?.hint);
      assert.ok((await call(ctx, 'projects:list', {})).length === 1, 'the app keeps serving requests');

      events.length = 0;
      await call(ctx, 'runs:resume', { projectId: p.id, runId });
      await until(() => !!finished(), 240_000, 'the resumed run');
      const done = finished() as Extract<AppEvent, { type: 'job-finished' }>;
      assert.ok(done.ok, `resume failed: ${JSON.stringify(done.error)}`);
      const run = await call(ctx, 'runs:get', { projectId: p.id, runId });
      assert.equal(run.status, 'done');
      assert.equal(run.epochs.length, 2);
      assert.ok(run.provider, 'the execution provider is recorded');
      const evaluation = await call(ctx, 'runs:evaluate', { projectId: p.id, runId });
      assert.equal(evaluation.classes.length, 3);
      assert.equal(
        evaluation.confusion.flat().reduce((a, b) => a + b, 0),
        evaluation.perClass.reduce((a, c) => a + c.support, 0),
      );
      ctx.jobs.dispose();
    },
  );
});

describe('Cancelling training', () => {
  it('stops at the next step, marks the run cancelled and resumable', { timeout: 300_000 }, async () => {
    const events: AppEvent[] = [];
    const ctx = await context([join(shared, 'datasets', 'busi-ultrasound')], (e) => events.push(e));
    const p = await call(ctx, 'projects:create', { name: 'Cancel' });
    await call(ctx, 'data:chooseFolder', { projectId: p.id });
    await call(ctx, 'data:scan', { projectId: p.id });
    const { jobId } = await call(ctx, 'models:download', { entryId: 'tiny-vit-random' });
    await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === jobId), 30_000, 'the model copy');
    await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-vit-random' });
    await call(ctx, 'projects:update', {
      id: p.id,
      method: { name: 'full', epochs: 3, batchSize: 16, learningRate: 1e-3, seed: 1, options: {} },
    });
    const { runId } = await call(ctx, 'runs:start', { projectId: p.id });
    const finished = () =>
      events.find((e) => e.type === 'job-finished' && e.runId === runId) as
        Extract<AppEvent, { type: 'job-finished' }> | undefined;
    await until(
      () => events.some((e) => e.type === 'job-event' && e.runId === runId && e.event.type === 'step') || !!finished(),
      180_000,
      'a training step',
    );
    assert.deepEqual(await call(ctx, 'jobs:cancel', { jobId: runId }), { cancelled: true });
    await until(() => !!finished(), 30_000, 'the cancel');
    assert.equal(finished()!.cancelled, true);
    const run = await call(ctx, 'runs:get', { projectId: p.id, runId });
    assert.equal(run.status, 'cancelled');
    assert.equal(run.error, null);
    // cancelled before its first validation: no accuracy to show (the engine's −1 placeholder once showed "−100.0 %")
    assert.equal(run.bestValAccuracy, null);
    ctx.jobs.dispose();
  });
});

describe('Closing the app during training', () => {
  it('leaves the run interrupted and resumable, not failed', { timeout: 300_000 }, async () => {
    const events: AppEvent[] = [];
    const ctx = await context([join(shared, 'datasets', 'busi-ultrasound')], (e) => events.push(e));
    const p = await call(ctx, 'projects:create', { name: 'Close' });
    await call(ctx, 'data:chooseFolder', { projectId: p.id });
    await call(ctx, 'data:scan', { projectId: p.id });
    const { jobId } = await call(ctx, 'models:download', { entryId: 'tiny-cnn-random' });
    await until(() => events.some((e) => e.type === 'job-finished' && e.jobId === jobId), 30_000, 'the model copy');
    await call(ctx, 'models:useCatalogue', { projectId: p.id, entryId: 'tiny-cnn-random' });
    await call(ctx, 'projects:update', {
      id: p.id,
      method: { name: 'full', epochs: 2, batchSize: 32, learningRate: 1e-3, seed: 1, options: {}, augment: 'medical' },
    });
    // corrections from the gallery: kept in the project, applied to the run's split, the folder untouched
    const busi = join(shared, 'datasets', 'busi-ultrasound');
    await call(ctx, 'projects:override', { id: p.id, file: join(busi, 'benign', 'benign (1).png'), action: 'exclude' });
    await call(ctx, 'projects:override', {
      id: p.id,
      file: join(busi, 'benign', 'benign (2).png'),
      action: 'relabel',
      label: 'malignant',
    });
    await call(ctx, 'projects:override', { id: p.id, file: join(busi, 'benign', 'benign (3).png'), action: 'exclude' });
    const corrected = await call(ctx, 'projects:override', {
      id: p.id,
      file: join(busi, 'benign', 'benign (3).png'),
      action: 'clear',
    });
    assert.deepEqual(corrected.overrides, {
      exclude: ['benign/benign (1).png'],
      relabel: { 'benign/benign (2).png': 'malignant' },
    });
    const outside = await dispatch(ctx, 'projects:override', { id: p.id, file: '/etc/passwd', action: 'exclude' });
    assert.ok(!outside.ok);
    const { runId } = await call(ctx, 'runs:start', { projectId: p.id });
    await until(
      () => events.some((e) => e.type === 'job-event' && e.runId === runId && e.event.type === 'step'),
      180_000,
      'a training step',
    );
    const split = JSON.parse(
      await readFile(join((await call(ctx, 'runs:get', { projectId: p.id, runId })).runDir, 'split.json'), 'utf8'),
    ) as { items: { file: string; label: string }[] };
    assert.equal(split.items.length, 779, 'the left-out image is not in the split');
    assert.ok(!split.items.some((i) => i.file === 'benign/benign (1).png'));
    assert.equal(split.items.find((i) => i.file === 'benign/benign (2).png')?.label, 'malignant');
    ctx.jobs.dispose(); // what main does on before-quit
    await until(
      () => events.some((e) => e.type === 'runs-changed' && !ctx.live.has(runId)),
      10_000,
      'the run to settle',
    );
    const run = await call(ctx, 'runs:get', { projectId: p.id, runId });
    assert.equal(run.status, 'interrupted');
    assert.equal(
      run.request.augment,
      'medical',
      'the medical augmentation preset chosen in the app reaches the engine',
    );
    assert.equal(run.error, null, 'no error (and no advice about memory) for a run the user closed');
    assert.equal(
      events.some((e) => e.type === 'job-finished' && e.runId === runId && !e.ok && !e.cancelled),
      false,
    );
    const resumed = await call(ctx, 'runs:resume', { projectId: p.id, runId });
    assert.equal(resumed.runId, runId);
    ctx.jobs.dispose();
  });
});

describe('Bundled worker (what Electron runs as a utility process)', () => {
  const bundled = join(repo, 'out/main/worker.js');
  it(
    'scans with the engine bundled by electron-vite',
    { skip: existsSync(bundled) ? false : 'run `npm run build` first' },
    async () => {
      const jobs = new JobHost(nodeWorkerFactory(bundled, []));
      const listing = await jobs.call('listMethods', [{}]);
      assert.ok(
        listing.methods.some((m) => m.name === 'full'),
        'the bundled engine lists its training methods',
      );
      const scanDir = await mkdtemp(join(tmpdir(), 'attune-scan-'));
      const report = await jobs.call('scanDataset', [
        join(shared, 'datasets', 'busi-ultrasound'),
        { cacheDir: scanDir },
      ]);
      assert.equal(report.total, 780);
      jobs.dispose();
    },
  );
});
