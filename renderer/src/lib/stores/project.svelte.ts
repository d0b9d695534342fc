/** Projects: the list on Home, the open project, its data and scan report. */
import { call, grantDropped } from '../api';
import type { Response } from '@main/ipc/contract';
import { app } from './app.svelte';
import type { CsvColumns, Project, ProjectSummary, RunSummary } from '@main/ipc/types';
import type { ScanReport, SplitSettings } from '@main/jobs/engine-contract';

class ProjectStore {
  list = $state<ProjectSummary[]>([]);
  recentRuns = $state<RunSummary[]>([]);
  current = $state<Project | null>(null);
  runs = $state<RunSummary[]>([]);
  scanning = $state(false);
  scanProgress = $state<{ phase: string; done: number; total: number } | null>(null);
  thumbs = $state<Record<string, string | null>>({});
  /** window the DICOM/16-bit thumbnails are shown through ('' = each file's own) */
  thumbWindow = $state('');
  large = $state<Record<string, string | null>>({});
  /** band choice the multispectral thumbnails are shown through ('' = the default) */
  thumbBands = $state('');
  /** a CSV project's columns: the table's, those recognised by name, and the user's choice */
  csvColumns = $state<Response<'data:csvColumns'> | null>(null);

  constructor() {
    app.subscribe((e) => {
      if (e.type === 'runs-changed' && e.projectId === this.current?.id) void this.refreshRuns();
      if (e.type === 'job-event' && e.jobId === `scan-${this.current?.id}` && e.event.type === 'progress') {
        this.scanProgress = { phase: e.event.phase, done: e.event.done, total: e.event.total };
      }
    });
  }

  get scan(): ScanReport | null {
    return this.current?.scan ?? null;
  }

  async refreshHome(): Promise<void> {
    await app.attempt(async () => {
      [this.list, this.recentRuns] = await Promise.all([call('projects:list', {}), call('runs:recent', {})]);
    });
  }

  async create(name: string): Promise<boolean> {
    const p = await app.attempt(() => call('projects:create', { name }));
    if (!p) return false;
    this.setCurrent(p);
    app.go('data');
    return true;
  }

  async open(id: string, route: Parameters<typeof app.go>[0] = 'data'): Promise<void> {
    const p = await app.attempt(() => call('projects:get', { id }));
    if (!p) return;
    this.setCurrent(p);
    await this.refreshRuns();
    void this.loadCsvColumns();
    app.go(route);
    if (p.scan) void this.loadThumbs(this.examples());
  }

  private setCurrent(p: Project): void {
    if (this.current?.id !== p.id) {
      this.thumbs = {};
      this.large = {};
      this.runs = [];
      this.csvColumns = null;
    }
    this.current = p;
  }

  async refreshRuns(): Promise<void> {
    if (!this.current) return;
    const id = this.current.id;
    const runs = await app.attempt(() => call('runs:list', { projectId: id }));
    if (runs) this.runs = runs;
  }

  async reload(): Promise<void> {
    if (!this.current) return;
    const id = this.current.id;
    const p = await app.attempt(() => call('projects:get', { id }));
    if (p) this.current = p;
  }

  async chooseFolder(): Promise<void> {
    const path = await app.pick('folder', 'Choose the folder with your labelled images');
    if (path !== null)
      await this.afterDataChange(() => call('data:chooseFolder', { projectId: this.current!.id, path }));
  }

  async chooseCsv(): Promise<void> {
    const path = await app.pick('file', 'Choose a CSV of image paths and labels', ['csv']);
    if (path !== null) await this.afterDataChange(() => call('data:chooseCsv', { projectId: this.current!.id, path }));
  }

  async useDropped(file: File): Promise<void> {
    await this.afterDataChange(async () => {
      const path = await grantDropped(file);
      return call('data:useDropped', { projectId: this.current!.id, path });
    });
  }

  /** 16-bit PNG/TIFF: subtracted from the stored values before the window (null: none); previews follow. */
  async setValueOffset(valueOffset: number | null): Promise<void> {
    await this.changeView({ valueOffset });
  }

  /** Multi-frame DICOM: each file's middle frame, or every frame as its own sample (the scan counts them again). */
  async setFrames(frames: 'middle' | 'all'): Promise<void> {
    await this.afterDataChange(() => call('projects:update', { id: this.current!.id, frames }));
  }

  /** The path, label and group columns of a CSV project (null: back to those recognised by name). */
  async setColumns(columns: CsvColumns | null): Promise<void> {
    await this.afterDataChange(() => call('data:setColumns', { projectId: this.current!.id, columns }));
  }

  private async afterDataChange(fn: () => Promise<Project | null>): Promise<void> {
    if (!this.current) return;
    const p = await app.attempt(fn);
    if (!p) return;
    this.current = p;
    this.thumbs = {};
    this.large = {};
    await this.loadCsvColumns();
    await this.runScan();
  }

  /** A CSV project's columns (read before the scan, so that a table whose columns are not recognised can be fixed). */
  async loadCsvColumns(): Promise<void> {
    const id = this.current?.id;
    this.csvColumns = null;
    if (!id || !this.current?.data?.csvPath) return;
    const c = await app.attempt(() => call('data:csvColumns', { projectId: id }));
    if (c && this.current?.id === id) this.csvColumns = c;
  }

  async runScan(): Promise<void> {
    if (!this.current) return;
    const id = this.current.id;
    this.scanning = true;
    this.scanProgress = null;
    try {
      const report = await app.attempt(() => call('data:scan', { projectId: id }));
      if (report && this.current?.id === id) {
        this.current = { ...this.current, scan: report, scannedAt: new Date().toISOString() };
        await this.loadThumbs(this.examples());
      }
    } finally {
      this.scanning = false;
    }
  }

  async cancelScan(): Promise<void> {
    if (this.current) await app.attempt(() => call('jobs:cancel', { jobId: `scan-${this.current!.id}` }));
  }

  /** Shows the thumbnails through another window (live preview of the choice). */
  async setThumbWindow(window: string): Promise<void> {
    this.thumbWindow = window;
    await this.changeView({ window });
  }

  /** Multispectral: the band choice for training and the thumbnails. */
  async setThumbBands(bands: string): Promise<void> {
    this.thumbBands = bands;
    await this.changeView({ bands });
  }

  /** The example images the scan report shows for each class. */
  examples(): string[] {
    return (this.scan?.classes ?? []).flatMap((c) => (c.examples ?? []).slice(0, 4));
  }

  /** A change to what training and the previews see through (window, bands, offset): saved, then previews redrawn. */
  private async changeView(change: { window?: string; bands?: string; valueOffset?: number | null }): Promise<void> {
    if (this.current) {
      const p = await app.attempt(() => call('projects:update', { id: this.current!.id, ...change }));
      if (p) this.current = p;
    }
    this.thumbs = {};
    this.large = {};
    await this.loadThumbs(this.examples());
  }

  /** What previews are drawn through: the window, bands and value offset training uses. */
  private view(): { window?: string; bands?: string; valueOffset?: number } {
    const voi = this.thumbWindow || this.current?.data?.window || '';
    const bands = this.thumbBands || this.current?.data?.bands || '';
    const offset = this.current?.data?.valueOffset;
    return {
      ...(voi ? { window: voi } : {}),
      ...(bands ? { bands } : {}),
      ...(offset !== undefined ? { valueOffset: offset } : {}),
    };
  }

  async loadThumbs(files: string[]): Promise<void> {
    const missing = [...new Set(files.filter((f) => !(f in this.thumbs)))];
    // the channel takes 64 files a request: every class gets its examples, however many classes there are
    for (let i = 0; i < missing.length; i += 64) {
      try {
        const res = await call('data:thumbnails', { files: missing.slice(i, i + 64), ...this.view() });
        const next = { ...this.thumbs };
        for (const r of res) next[r.file] = r.dataUrl;
        this.thumbs = next;
      } catch {
        // thumbnails are a nicety: a failure leaves placeholders, the report stays usable
      }
    }
  }

  /** a large preview of one image (the enlarged view of the gallery) */
  async loadLarge(file: string): Promise<string | null> {
    if (file in this.large) return this.large[file];
    const [r] = await call('data:thumbnails', { files: [file], size: 640, ...this.view() }).catch(() => [null]);
    this.large = { ...this.large, [file]: r?.dataUrl ?? null };
    return this.large[file];
  }

  /** leave an image out of training, correct its label, or undo that ('clear'); stored in the project only */
  async override(file: string, action: 'exclude' | 'relabel' | 'clear', label?: string): Promise<void> {
    if (!this.current) return;
    const p = await app.attempt(() => call('projects:override', { id: this.current!.id, file, action, label }));
    if (p) this.current = p;
  }

  /** the correction of an image (absolute path), if any */
  correction(file: string): { excluded: boolean; label: string | null } | null {
    const o = this.current?.overrides;
    const root = this.current?.data?.path;
    if (!o || !root || !file.startsWith(root)) return null;
    const key = file
      .slice(root.length)
      .replace(/^[\\/]+/, '')
      .split(/[\\/]/)
      .join('/');
    const excluded = o.exclude.includes(key);
    const label = o.relabel[key] ?? null;
    return excluded || label ? { excluded, label } : null;
  }

  async updateSplit(split: SplitSettings): Promise<void> {
    if (!this.current) return;
    const p = await app.attempt(() => call('projects:update', { id: this.current!.id, split }));
    if (p) this.current = p;
  }

  async rename(name: string): Promise<void> {
    if (!this.current) return;
    const p = await app.attempt(() => call('projects:update', { id: this.current!.id, name }));
    if (p) this.current = p;
  }
}

export const project = new ProjectStore();
