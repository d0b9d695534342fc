/** onnxruntime-node sessions over IR models, with provider selection and fallback. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AttuneError } from '../errors';
import type { EventSink } from '../events';
import type { Model } from '../ir/graph';
import type { Tensor } from '../ir/tensor';
import { encodeModel } from '../onnx/io';
import { planProviders, type PlatformInfo, type ProviderName, type ProviderRequest } from './providers';

export function platformInfo(): PlatformInfo {
  const require = createRequire(import.meta.url);
  const binDir = join(
    dirname(require.resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  return {
    platform: process.platform,
    arch: process.arch,
    backends: ort.listSupportedBackends(),
    cudaInstalled:
      existsSync(join(binDir, 'libonnxruntime_providers_cuda.so')) ||
      existsSync(join(binDir, 'onnxruntime_providers_cuda.dll')),
  };
}

export interface SessionOptions {
  provider?: ProviderRequest;
  threads?: number;
  onEvent?: EventSink;
}

export interface Session {
  readonly provider: ProviderName;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, fetch?: string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

const ORT_TYPE: Record<string, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
  float16: 'float16',
};

export function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, t.dims);
}
export function fromOrt(t: ort.Tensor): Tensor {
  return { dtype: t.type as Tensor['dtype'], dims: [...t.dims], data: t.data as Tensor['data'] };
}

/**
 * onnxruntime's options for every session Attune runs (the benchmarks use them too). No memory pattern: with it,
 * the first run allocates through the arena and every later run also allocates the planned pattern as one more
 * block, while the arena keeps what the first run took, so a training step's peak is about twice its live tensors
 * (full fine-tuning of ViT-Tiny at batch 32: 2.96 GB against 1.70 GB without it).
 */
export function ortOptions(provider: ProviderName, threads?: number): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  return threads ? { ...o, intraOpNumThreads: threads } : o;
}

/** ATTUNE_THREADS caps onnxruntime's threads (a sweep running trials side by side splits the cores between them). */
function envThreads(): number | undefined {
  const n = Number(process.env.ATTUNE_THREADS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Creates a session on the best available provider; reports which one, and why it fell back. */
export async function createSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const request = opts.provider ?? 'auto';
  const plan = planProviders(request, platformInfo());
  const failures: string[] = [...plan.notes];
  for (const provider of plan.order) {
    try {
      const s = await ort.InferenceSession.create(bytes, ortOptions(provider, opts.threads ?? envThreads()));
      if (provider === 'cpu' && request !== 'cpu' && request !== 'auto')
        opts.onEvent?.({ type: 'log', level: 'warn', message: `Falling back to CPU: ${failures.join(' ')}` });
      opts.onEvent?.({
        type: 'provider',
        provider,
        requested: request,
        fallbackReason: failures.length ? failures.join(' ') : undefined,
      });
      return wrap(s, provider);
    } catch (e) {
      const msg = (e as Error).message;
      if (provider === 'cpu') throw translateOrtError(msg);
      failures.push(`${provider.toUpperCase()} could not start (${msg.split('\n')[0]}).`);
    }
  }
  throw new AttuneError('no-provider', 'No execution provider could run this model.', 'Choose CPU.');
}

function wrap(s: ort.InferenceSession, provider: ProviderName): Session {
  return {
    provider,
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    async run(feeds, fetch) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
      const out = fetch ? await s.run(ortFeeds, fetch) : await s.run(ortFeeds);
      const res: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(out)) res[k] = fromOrt(v);
      return res;
    },
    release: () => s.release(),
  };
}

/** onnxruntime's messages are for developers; say what the user can do. */
function translateOrtError(msg: string): AttuneError {
  const m = /Could not find an implementation for (\w+)\((\d+)\) node with name '([^']*)'/.exec(msg);
  if (m)
    return new AttuneError(
      'unsupported-op',
      `The operation ${m[1]} (opset ${m[2]}, node "${m[3]}") cannot run in this configuration.`,
      'Use the linear probe, which runs the backbone unchanged, or export the backbone with a different opset.',
      { op: m[1], node: m[3] },
    );
  return new AttuneError(
    'runtime',
    `onnxruntime could not load the model: ${msg.split('\n')[0]}`,
    'Check that the file is a valid ONNX model; re-export it if needed.',
  );
}
