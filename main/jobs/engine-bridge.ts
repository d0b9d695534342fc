/**
 * The ONE place the app calls the engine: the façade `engine/api.ts`. Runs inside the job worker
 * (Electron utility process / forked Node process), never in Electron's main event loop.
 *
 * `EngineContract` (engine-contract.ts) is what the app needs; assigning the façade's functions to it below makes
 * the compiler check that the two still agree whenever either side changes.
 */
import * as api from '../../engine/api';
import type { EngineContract, EngineEvent } from './engine-contract';

/** Which façade functions the worker loaded: the worker's liveness check (the bridge imports the façade statically). */
export async function engineCapabilities(): Promise<Record<string, boolean>> {
  const names = ['scanDataset', 'inspectBackbone', 'listMethods', 'trainRun', 'evaluateRun', 'exportRun', 'predictWithModel', 'previewImage', 'raceMethods'] as const;
  const mod = api as unknown as Record<string, unknown>;
  return Object.fromEntries(names.map((n) => [n, typeof mod[n] === 'function']));
}

export const engine: EngineContract = {
  scanDataset: (path, opts, onEvent) => api.scanDataset(path, opts, onEvent),
  inspectBackbone: (modelPath) => api.inspectBackbone(modelPath),
  listMethods: (ctx) => api.listMethods(ctx),
  trainRun: (request, opts) => api.trainRun(request, opts),
  evaluateRun: (runDir) => api.evaluateRun(runDir),
  exportRun: (runDir, outDir, opts) => api.exportRun(runDir, outDir, opts),
  predictWithModel: (modelPath, files) => api.predictWithModel(modelPath, files),
  previewImage: (file, opts) => api.previewImage(file, opts),
  raceMethods: (request, opts) => api.raceMethods(request, opts),
};

export type { EngineEvent };
