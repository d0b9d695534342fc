/** Navigation, app info, and the one place errors and notices are shown. */
import { ApiError, asApiError, call, onAppEvent } from '../api';
import type { AppInfo } from '@main/ipc/contract';
import type { AppEvent, Settings } from '@main/ipc/types';

export type Route = 'home' | 'data' | 'model' | 'method' | 'train' | 'evaluate' | 'export' | 'compare' | 'settings';

const ROUTES: Route[] = ['home', 'data', 'model', 'method', 'train', 'evaluate', 'export', 'compare', 'settings'];

export const FLOW: { route: Route; label: string }[] = [
  { route: 'data', label: 'Data' },
  { route: 'model', label: 'Model' },
  { route: 'method', label: 'Method' },
  { route: 'train', label: 'Train' },
  { route: 'evaluate', label: 'Evaluate' },
  { route: 'export', label: 'Export' },
  { route: 'compare', label: 'Compare' },
];

/** A request for the in-app file browser (browser mode's stand-in for native dialogs). */
export interface BrowseRequest {
  kind: 'folder' | 'file';
  title: string;
  extensions?: string[];
  done(path: string | null): void;
}

class AppStore {
  route = $state<Route>('home');
  info = $state<AppInfo | null>(null);
  settings = $state<Settings | null>(null);
  error = $state<ApiError | null>(null);
  notice = $state<string | null>(null);
  browse = $state<BrowseRequest | null>(null);
  private listeners = new Set<(e: AppEvent) => void>();

  constructor() {
    onAppEvent((e) => {
      if (e.type === 'navigate') {
        if (e.route === 'new-project') {
          this.go('home');
          setTimeout(() => document.querySelector<HTMLInputElement>('[data-testid="project-name-input"]')?.focus(), 0);
        } else if (ROUTES.includes(e.route as Route)) this.go(e.route as Route);
      }
      for (const l of this.listeners) l(e);
    });
  }

  subscribe(l: (e: AppEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  go(route: Route): void {
    this.error = null;
    this.route = route;
    queueMicrotask(() => document.getElementById('screen-title')?.focus());
  }

  fail(e: unknown): void {
    const err = asApiError(e);
    // a cancel the user asked for is news, not an error
    if (err.code === 'cancelled') this.notice = err.message;
    else this.error = err;
  }

  /** Run an action; any error is shown in the banner with its hint. Returns undefined on failure. */
  async attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
    this.error = null;
    try {
      return await fn();
    } catch (e) {
      this.fail(e);
      return undefined;
    }
  }

  /**
   * Where a native dialog would open: in Electron, undefined (main opens the dialog); in browser mode, the path the
   * user picks in the in-app file browser, or null when they cancel.
   */
  async pick(kind: 'folder' | 'file', title: string, extensions?: string[]): Promise<string | null | undefined> {
    if (this.info?.transport !== 'browser') return undefined;
    this.browse?.done(null);
    return new Promise(
      (done) => (this.browse = { kind, title, extensions, done: (p) => ((this.browse = null), done(p)) }),
    );
  }

  /** pick(), then a choose channel with what was picked; null when the user cancelled */
  async choose<T>(
    kind: 'folder' | 'file',
    title: string,
    send: (path: string | undefined) => Promise<T>,
    extensions?: string[],
  ): Promise<T | null | undefined> {
    const path = await this.pick(kind, title, extensions);
    if (path === null) return null;
    return this.attempt(() => send(path));
  }

  async load(): Promise<void> {
    await this.attempt(async () => {
      this.info = await call('app:info', {});
      this.settings = await call('settings:get', {});
    });
  }

  async updateSettings(patch: Parameters<typeof call<'settings:update'>>[1]): Promise<void> {
    const s = await this.attempt(() => call('settings:update', patch));
    if (s) this.settings = s;
  }

  async chooseWorkspace(): Promise<void> {
    const s = await this.choose('folder', 'Choose the workspace folder for projects and runs', (path) =>
      call('settings:chooseWorkspace', { path }),
    );
    if (s) {
      this.settings = s;
      this.notice = `Workspace changed to ${s.workspace}.`;
    }
  }

  async chooseCatalogue(): Promise<void> {
    const s = await this.choose('folder', 'Choose a folder of ONNX models', (path) =>
      call('settings:chooseCatalogue', { path }),
    );
    if (s) this.settings = s;
  }
}

export const app = new AppStore();
