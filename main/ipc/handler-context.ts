/** What every handler receives, and the small helpers the handler areas share. */
import type { Channel, ParsedRequest, Response } from './contract';
import { AttuneError } from './errors';
import type { AllowList } from '../security/allow-list';
import type { JobHost } from '../jobs/job-host';
import type { SettingsStore } from '../settings';
import { Workspace } from '../workspace/workspace';
import type { AppEvent, Project, Transport } from './types';

export interface DialogOptions {
  title: string;
  buttonLabel?: string;
  filters?: { name: string; extensions: string[] }[];
}

/**
 * Native dialogs (Electron) or the in-app file browser (browser mode). `chosen` is what the page picked in the
 * in-app browser: browser mode checks it against the allowed roots; Electron ignores it (its dialogs are native).
 */
export interface Dialogs {
  chooseFolder(opts: DialogOptions, chosen?: string): Promise<string | null>;
  chooseFile(opts: DialogOptions, chosen?: string): Promise<string | null>;
}

export interface HandlerContext {
  settings: SettingsStore;
  allow: AllowList;
  jobs: JobHost;
  dialogs: Dialogs;
  emit(e: AppEvent): void;
  reveal?(path: string): void;
  version: string;
  platform: string;
  transport: Transport;
  /** browser mode: the folders the in-app file browser may show (the user's allowed roots) */
  browseRoots: string[];
  /** running jobs by id (training runs use the run id) */
  live: Map<string, AbortController>;
  interruptedRuns: number;
}

export type Handler<C extends Channel> = (req: ParsedRequest<C>, ctx: HandlerContext) => Promise<Response<C>>;
export type Handlers = { [C in Channel]: Handler<C> };

export async function workspaceOf(ctx: HandlerContext): Promise<Workspace> {
  const ws = new Workspace((await ctx.settings.get()).workspace);
  await ws.init();
  ctx.allow.allow(ws.root);
  return ws;
}

/** A project's chosen data and model were chosen by the user earlier: re-grant them when the project is opened. */
export function grantProject(ctx: HandlerContext, p: Project): Project {
  if (p.data) {
    ctx.allow.allow(p.data.path);
    if (p.data.csvPath) ctx.allow.allow(p.data.csvPath);
  }
  if (p.model) ctx.allow.allow(p.model.path);
  return p;
}

export function need<T>(v: T | null | undefined, message: string, hint: string): T {
  if (v === null || v === undefined) throw new AttuneError('incomplete', message, hint);
  return v;
}

/** Runs a job that the user can cancel with jobs:cancel {jobId}; a cancel becomes a 'cancelled' error. */
export async function cancellable<T>(
  ctx: HandlerContext,
  jobId: string,
  message: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  ctx.live.get(jobId)?.abort();
  const controller = new AbortController();
  ctx.live.set(jobId, controller);
  try {
    return await run(controller.signal);
  } catch (e) {
    if (controller.signal.aborted) throw new AttuneError('cancelled', message, 'Start it again when you are ready.');
    throw e;
  } finally {
    if (ctx.live.get(jobId) === controller) ctx.live.delete(jobId);
  }
}
