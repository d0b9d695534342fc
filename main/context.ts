/** Builds the handler context shared by the Electron app and the e2e bridge server. */
import type { AppEvent } from './ipc/types';
import type { Dialogs, HandlerContext } from './ipc/handler-context';
import { AllowList } from './security/allow-list';
import { JobHost, type WorkerFactory } from './jobs/job-host';
import { SettingsStore } from './settings';
import { Workspace } from './workspace/workspace';

export interface ContextOptions {
  userData: string;
  workerFactory: WorkerFactory;
  dialogs: Dialogs;
  emit(e: AppEvent): void;
  reveal?(path: string): void;
  version: string;
  platform: string;
  transport: HandlerContext['transport'];
  catalogueOverride?: string | null;
  /** browser mode: folders the in-app file browser may show */
  browseRoots?: string[];
}

export async function createContext(o: ContextOptions): Promise<HandlerContext> {
  const settings = new SettingsStore(o.userData, o.catalogueOverride ?? process.env.ATTUNE_CATALOGUE ?? null);
  const allow = new AllowList();
  const s = await settings.get();
  allow.allow(s.workspace);
  if (s.catalogueSource && !/^https?:/.test(s.catalogueSource)) allow.allow(s.catalogueSource);
  const ws = new Workspace(s.workspace);
  await ws.init();
  const interruptedRuns = await ws.markInterrupted(new Set());
  return {
    settings,
    allow,
    jobs: new JobHost(o.workerFactory),
    dialogs: o.dialogs,
    emit: o.emit,
    reveal: o.reveal,
    version: o.version,
    platform: o.platform,
    transport: o.transport,
    browseRoots: o.browseRoots ?? [],
    live: new Map(),
    interruptedRuns,
  };
}
