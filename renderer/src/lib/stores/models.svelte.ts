/** Backbone catalogue (downloads with progress), the compatibility check, and the method listing. */
import { call } from '../api';
import { app } from './app.svelte';
import { project } from './project.svelte';
import type { CatalogueEntryView, MethodChoice } from '@main/ipc/types';
import type { BackboneInfo, MemoryEstimate, MethodListing } from '@main/jobs/engine-contract';

export interface DownloadState {
  jobId: string;
  received: number;
  total: number | null;
  phase: 'downloading' | 'verifying' | 'done';
}

interface MemoryView {
  estimate: MemoryEstimate | null;
  error: string | null;
  pending: boolean;
}

class ModelsStore {
  catalogue = $state<CatalogueEntryView[]>([]);
  loading = $state(false);
  downloads = $state<Record<string, DownloadState>>({});
  inspecting = $state(false);
  methods = $state<MethodListing | null>(null);
  /** the chosen method's memory estimate at its batch (null until asked), or why it could not be made */
  memory = $state<MemoryView>({
    estimate: null,
    error: null,
    pending: false,
  });
  private memoryAsked = 0;
  /** what the shown estimate was counted for, apart from the batch (a new batch is scaled at once) */
  private memoryCounted = '';

  constructor() {
    app.subscribe((e) => {
      if (e.type === 'download') {
        this.downloads = {
          ...this.downloads,
          [e.entryId]: { jobId: e.jobId, received: e.received, total: e.total, phase: e.phase },
        };
      } else if (e.type === 'job-finished' && e.jobId.startsWith('download-')) {
        const id = e.jobId.slice('download-'.length);
        const { [id]: _gone, ...rest } = this.downloads;
        this.downloads = rest;
        if (e.error) app.fail(e.error);
        void this.loadCatalogue().then(() => {
          if (e.ok) void this.use(id);
        });
      }
    });
  }

  get info(): BackboneInfo | null {
    return project.current?.model?.info ?? null;
  }

  async loadCatalogue(): Promise<void> {
    this.loading = true;
    const c = await app.attempt(() => call('models:catalogue', {}));
    if (c) this.catalogue = c;
    this.loading = false;
  }

  async download(entryId: string): Promise<void> {
    const r = await app.attempt(() => call('models:download', { entryId }));
    if (r)
      this.downloads = {
        ...this.downloads,
        [entryId]: { jobId: r.jobId, received: 0, total: null, phase: 'downloading' },
      };
  }

  async cancelDownload(entryId: string): Promise<void> {
    const d = this.downloads[entryId];
    if (d) await app.attempt(() => call('jobs:cancel', { jobId: d.jobId }));
  }

  async use(entryId: string): Promise<void> {
    if (!project.current) return;
    const p = await app.attempt(() => call('models:useCatalogue', { projectId: project.current!.id, entryId }));
    if (p) {
      project.current = p;
      await this.inspect();
    }
  }

  async openFile(): Promise<void> {
    if (!project.current) return;
    const path = await app.pick('file', 'Open an ONNX backbone', ['onnx']);
    if (path === null) return;
    const p = await app.attempt(() => call('models:openFile', { projectId: project.current!.id, path }));
    if (p) {
      project.current = p;
      await this.inspect();
    }
  }

  async inspect(): Promise<void> {
    if (!project.current?.model) return;
    this.inspecting = true;
    try {
      const info = await app.attempt(() => call('models:inspect', { projectId: project.current!.id }));
      if (info && project.current?.model)
        project.current = { ...project.current, model: { ...project.current.model, info } };
    } finally {
      this.inspecting = false;
    }
  }

  async cancelInspect(): Promise<void> {
    if (project.current) await app.attempt(() => call('jobs:cancel', { jobId: `inspect-${project.current!.id}` }));
  }

  async loadMethods(): Promise<void> {
    if (!project.current) return;
    const m = await app.attempt(() => call('methods:list', { projectId: project.current!.id }));
    if (!m) return;
    // choose the recommendation before the cards appear, so it cannot race a user's click
    if (!project.current.method && m.recommendation) await this.choose(m.recommendation.name, {}, m);
    this.methods = m;
  }

  /**
   * Asks for the chosen method's memory estimate. The first ask for a backbone, method and options compiles the
   * program (seconds at ViT-Base); later batches answer at once. Only the latest ask's answer is kept. A failure is
   * shown beside the estimate, not as the app's error: the estimate is advice, the run itself checks again.
   */
  async estimateMemory(): Promise<void> {
    const p = project.current;
    const asked = ++this.memoryAsked;
    if (!p?.model || !p.method) {
      this.memory = { estimate: null, error: null, pending: false };
      return;
    }
    // another method, options or backbone: the shown estimate is not this choice's, even for a moment
    const counted = JSON.stringify([p.model.path, p.method.name, p.method.options]);
    this.memory = {
      ...(counted === this.memoryCounted ? this.memory : { estimate: null, error: null }),
      pending: true,
    };
    this.memoryCounted = counted;
    let next: MemoryView;
    try {
      next = { estimate: await call('methods:memory', { projectId: p.id }), error: null, pending: false };
    } catch (e) {
      next = { estimate: null, error: e instanceof Error ? e.message : String(e), pending: false };
    }
    if (asked === this.memoryAsked) this.memory = next;
  }

  async choose(
    name: string,
    patch: Partial<MethodChoice> = {},
    listing: MethodListing | null = this.methods,
  ): Promise<void> {
    if (!project.current || !listing) return;
    const info = listing.methods.find((x) => x.name === name);
    if (!info) return;
    const prev = project.current.method?.name === name ? project.current.method : null;
    const { epochs, batchSize, learningRate, ...options } = info.defaults;
    const method: MethodChoice = {
      name,
      epochs: prev?.epochs ?? epochs,
      batchSize: prev?.batchSize ?? batchSize,
      learningRate: prev?.learningRate ?? learningRate,
      seed: prev?.seed ?? project.current.split.seed,
      options: prev?.options ?? options,
      ...patch,
    };
    const p = await app.attempt(() => call('projects:update', { id: project.current!.id, method }));
    if (p) project.current = p;
  }
}

export const models = new ModelsStore();
