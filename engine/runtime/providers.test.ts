import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planProviders, type PlatformInfo } from './providers';
import { createSession, platformInfo } from './session';
import { loadModel } from '../onnx/io';
import { MODELS } from '../testing/fixtures';
import type { EngineEvent } from '../events';

const linux = (cuda: boolean): PlatformInfo => ({
  platform: 'linux',
  arch: 'x64',
  backends: [
    { name: 'cpu', bundled: true },
    { name: 'webgpu', bundled: true },
    { name: 'cuda', bundled: false },
  ],
  cudaInstalled: cuda,
});

test('auto prefers an installed GPU provider and always ends with CPU', () => {
  assert.deepEqual(planProviders('auto', linux(true)).order, ['cuda', 'cpu']);
  assert.deepEqual(planProviders('auto', linux(false)).order, ['cpu']);
  assert.deepEqual(
    planProviders('auto', {
      platform: 'win32',
      arch: 'x64',
      backends: [
        { name: 'cpu', bundled: true },
        { name: 'dml', bundled: true },
      ],
      cudaInstalled: false,
    }).order,
    ['dml', 'cpu'],
  );
  assert.deepEqual(
    planProviders('auto', {
      platform: 'darwin',
      arch: 'arm64',
      backends: [
        { name: 'cpu', bundled: true },
        { name: 'coreml', bundled: true },
      ],
      cudaInstalled: false,
    }).order,
    ['coreml', 'cpu'],
  );
  assert.deepEqual(planProviders('cpu', linux(true)).order, ['cpu']);
});

test('a requested provider that is missing falls back to CPU with a reason', () => {
  const p = planProviders('cuda', linux(false));
  assert.deepEqual(p.order, ['cpu']);
  assert.match(p.notes[0], /CUDA .*not installed.*setup:cuda/);
  assert.match(planProviders('dml', linux(false)).notes[0], /Windows/);
  assert.match(planProviders('coreml', linux(false)).notes[0], /macOS/);
});

test('the session reports the provider in use and announces the fallback', async () => {
  const events: EngineEvent[] = [];
  const s = await createSession(loadModel(MODELS.tinyCnn), {
    provider: platformInfo().cudaInstalled ? 'dml' : 'cuda',
    onEvent: (e) => events.push(e),
  });
  assert.equal(s.provider, 'cpu');
  const provider = events.find((e) => e.type === 'provider');
  assert.ok(provider && provider.type === 'provider' && provider.provider === 'cpu' && provider.fallbackReason);
  assert.ok(events.some((e) => e.type === 'log' && e.level === 'warn' && /Falling back to CPU/.test(e.message)));
});
