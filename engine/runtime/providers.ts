/**
 * Execution provider choice. onnxruntime-node ships CPU (and WebGPU on some builds) in the package;
 * CUDA needs provider libraries installed on request, DirectML is Windows-only, CoreML macOS-only.
 * The chosen provider is always reported; falling back to CPU is announced, never silent.
 */
/** onnxruntime's execution-provider names Attune knows (the one list; menus, schemas and usage derive from it). */
const PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
/** what a user may ask for: a provider by name, or `auto` (see planProviders) */
export const PROVIDER_REQUESTS = ['auto', ...PROVIDERS] as const;
export type ProviderRequest = (typeof PROVIDER_REQUESTS)[number];

export interface PlatformInfo {
  platform: NodeJS.Platform;
  arch: string;
  /** names onnxruntime-node reports via listSupportedBackends(), with whether their libraries are present */
  backends: { name: string; bundled: boolean }[];
  /** CUDA provider libraries found on disk (opt-in install) */
  cudaInstalled: boolean;
}

export interface ProviderPlan {
  /** providers to try, in order; cpu is always last */
  order: ProviderName[];
  /** why a requested provider is not in the plan */
  notes: string[];
}

const AUTO_PREFERENCE: ProviderName[] = ['cuda', 'dml', 'coreml', 'webgpu'];

function availability(p: ProviderName, info: PlatformInfo): string | null {
  const listed = info.backends.some((b) => b.name === p);
  switch (p) {
    case 'cpu':
      return null;
    case 'cuda':
      if (info.platform !== 'linux' && info.platform !== 'win32') return 'CUDA is only available on Linux and Windows.';
      if (!listed) return 'this onnxruntime-node build has no CUDA provider.';
      if (!info.cudaInstalled)
        return 'the CUDA provider libraries are not installed (run `npm run setup:cuda` with internet access).';
      return null;
    case 'dml':
      return info.platform === 'win32' && listed ? null : 'DirectML is only available on Windows.';
    case 'coreml':
      return info.platform === 'darwin' && listed ? null : 'CoreML is only available on macOS.';
    case 'webgpu':
      return listed ? null : 'this onnxruntime-node build has no WebGPU provider.';
  }
}

/**
 * `auto` prefers accelerators that are installed, but not WebGPU: on machines without a GPU it
 * would start a software adapter slower than CPU. WebGPU is used when asked for by name.
 */
export function planProviders(request: ProviderRequest, info: PlatformInfo): ProviderPlan {
  const notes: string[] = [];
  const order: ProviderName[] = [];
  const wanted =
    request === 'auto' ? AUTO_PREFERENCE.filter((p) => p !== 'webgpu') : request === 'cpu' ? [] : [request];
  for (const p of wanted) {
    const why = availability(p, info);
    if (why === null) order.push(p);
    else if (request !== 'auto') notes.push(`${p.toUpperCase()} was requested but ${why}`);
  }
  order.push('cpu');
  return { order, notes };
}
