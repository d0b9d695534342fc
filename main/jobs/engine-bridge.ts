/**
 * The ONE place the app calls the engine: the façade `engine/api.ts`, as a lookup table of jobs the worker runs.
 * Each job takes the worker's job options (cancel signal, event sink) and the arguments main sent; its argument and
 * result types come from the façade's own signatures, so the job host's calls are checked against the engine.
 * Runs inside the job worker (Electron utility process / forked Node process), never in Electron's main event loop.
 */
import * as api from '../../engine/api';
import type { EngineContract, EngineEvent, ExportChoices } from './engine-contract';
import { makeThumbnails } from './thumbnails';
import { explainWithOverlays } from './heatmaps';

export interface JobOptions {
  signal: AbortSignal;
  onEvent: (e: EngineEvent) => void;
}

/** a façade function that takes no job options */
const plain =
  <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
  (_job: JobOptions, ...a: A): Promise<R> =>
    f(...a);

type Fn<M extends keyof EngineContract> = Parameters<EngineContract[M]>;

export const jobs = {
  scanDataset: (job: JobOptions, path: Fn<'scanDataset'>[0], opts: Fn<'scanDataset'>[1] = {}) =>
    api.scanDataset(path, opts, job.onEvent),
  inspectBackbone: plain(api.inspectBackbone),
  listMethods: plain(api.listMethods),
  estimateMemory: plain(api.estimateMemory),
  trainRun: (job: JobOptions, request: Fn<'trainRun'>[0]) => api.trainRun(request, job),
  evaluateRun: plain(api.evaluateRun),
  exportRun: (job: JobOptions, runDir: string, outDir: string, choices: ExportChoices = {}) =>
    api.exportRun(runDir, outDir, { ...job, ...choices }),
  // "Try it" shows every class's probability
  predictWithModel: (_job: JobOptions, modelPath: string, files: string[]) =>
    api.predictWithModel(modelPath, files, { topK: Infinity }),
  operatingPointForRun: plain(api.operatingPointForRun),
  explainImages: plain(explainWithOverlays),
  raceMethods: (job: JobOptions, request: Fn<'raceMethods'>[0]) => api.raceMethods(request, job),
  kfoldEvaluate: (job: JobOptions, request: Fn<'kfoldEvaluate'>[0]) => api.kfoldEvaluate(request, job),
  thumbnails: plain(makeThumbnails),
  /** test hook: lets tests prove a worker crash is reported, not fatal */
  crash: async (): Promise<never> => process.exit(70),
} satisfies Record<string, (job: JobOptions, ...args: never[]) => Promise<unknown>>;

export type WorkerJobs = typeof jobs;
export type WorkerMethod = keyof WorkerJobs;
export type WorkerArgs<M extends WorkerMethod> = WorkerJobs[M] extends (job: JobOptions, ...a: infer A) => unknown
  ? A
  : never;
export type WorkerResult<M extends WorkerMethod> = Awaited<ReturnType<WorkerJobs[M]>>;
