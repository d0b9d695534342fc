/** Training (live events), evaluation, export and comparison of runs. */
import { asApiError, call } from '../api';
import { app } from './app.svelte';
import { project } from './project.svelte';
import type { RunRecord } from '@main/ipc/types';
import { applyEngineEvent } from '@main/runs/apply-event';
import type {
  EngineEvent,
  EvaluationReport,
  ExportChoices,
  ExportResult,
  OperatingPoint,
  Prediction,
} from '@main/jobs/engine-contract';
import type { ExplanationView } from '@main/jobs/heatmaps';
import { phaseLabel, type StepSample } from '../eta';

export interface LiveState {
  phase: string | null;
  progress: {
    phase: string;
    done: number;
    total: number;
    detail?: string;
    startedAt: number;
    startDone: number;
    at: number;
  } | null;
  firstStep: StepSample | null;
  lastStep: StepSample | null;
  imagesPerSecond: number | null;
  /** steps train only the head on cached features (linear probe): their images/s says nothing about the backbone */
  cachedFeatures: boolean;
  log: { level: string; message: string }[];
}

function stepPhase(epoch: number, epochs: number, cached: boolean): string {
  return `Training — epoch ${epoch + 1} of ${epochs}${cached ? ' (on cached image features)' : ''}`;
}

const emptyLive = (): LiveState => ({
  phase: null,
  progress: null,
  firstStep: null,
  lastStep: null,
  imagesPerSecond: null,
  cachedFeatures: false,
  log: [],
});

class RunStore {
  /** the selected run; shown only while its project is the open one */
  private selected = $state<RunRecord | null>(null);
  /** export folder chosen for the selected run */
  private exportTo = $state<{ runId: string; dir: string } | null>(null);
  /** a cancel was asked for and the engine is stopping at its next step */
  cancelling = $state(false);
  live = $state<LiveState>(emptyLive());
  starting = $state(false);
  evaluation = $state<EvaluationReport | null>(null);
  evaluating = $state(false);
  /** the export folder holds an earlier model.onnx: the user confirms replacing it */
  exportExists = $state(false);
  exported = $state<ExportResult | null>(null);
  exporting = $state(false);
  exportProgress = $state<{ phase: string; done: number; total: number } | null>(null);
  tryFile = $state<string | null>(null);
  prediction = $state<Prediction | null>(null);
  predicting = $state(false);
  compared = $state<RunRecord[]>([]);
  /** "Show where the model looked": Grad-CAM overlays on the misclassified gallery and in Try it */
  showHeatmaps = $state(false);
  heatmaps = $state<Record<string, ExplanationView>>({});
  /** the Try-it image's heatmap, from the export it was predicted with */
  tryExplanation = $state<ExplanationView | null>(null);
  explaining = $state(false);
  /** what the next export fixes besides the model: an operating point and a referral threshold */
  exportChoices = $state<ExportChoices>({});
  operatingPoint = $state<OperatingPoint | null>(null);
  private opRequests = 0;

  constructor() {
    app.subscribe((e) => {
      if (e.type === 'job-event' && e.runId && e.runId === this.current?.id) {
        if (e.jobId.startsWith('export-')) this.onExportEvent(e.event);
        else this.onEvent(e.event);
      } else if (
        e.type === 'job-finished' &&
        e.runId &&
        e.runId === this.current?.id &&
        !e.jobId.startsWith('export-')
      ) {
        this.cancelling = false;
        void this.reload();
        if (e.error) app.fail(e.error);
        else if (e.cancelled) app.notice = 'Training was cancelled. The run can be resumed from where it stopped.';
      }
    });
  }

  get current(): RunRecord | null {
    const r = this.selected;
    return r && r.projectId === project.current?.id ? r : null;
  }

  set current(r: RunRecord | null) {
    this.selected = r;
  }

  get exportDir(): string | null {
    return this.exportTo && this.exportTo.runId === this.current?.id ? this.exportTo.dir : null;
  }

  get running(): boolean {
    return this.current?.status === 'running';
  }

  private onEvent(ev: EngineEvent): void {
    const r = this.current;
    if (!r) return;
    const live = this.live;
    applyEngineEvent(r, ev);
    switch (ev.type) {
      case 'phase':
        live.phase = phaseLabel(ev.phase, ev.detail);
        live.progress = null;
        break;
      case 'progress':
        {
          const label = phaseLabel(ev.phase);
          const now = Date.now();
          const same = live.progress?.phase === label;
          live.progress = {
            phase: label,
            done: ev.done,
            total: ev.total,
            detail: ev.detail,
            startedAt: same ? live.progress!.startedAt : now,
            startDone: same ? live.progress!.startDone : ev.done,
            at: now,
          };
        }
        break;
      case 'step': {
        const s: StepSample = { epoch: ev.epoch, step: ev.step, stepsPerEpoch: ev.stepsPerEpoch, at: Date.now() };
        live.firstStep ??= s;
        live.lastStep = s;
        live.imagesPerSecond = ev.imagesPerSecond;
        live.cachedFeatures = ev.cachedFeatures === true;
        // steps mean the program is built and training: the phase says so (not "Building …" any more)
        live.phase = stepPhase(ev.epoch, r.request.epochs, live.cachedFeatures);
        live.progress = null;
        break;
      }
      case 'log':
      case 'memory': {
        const level = ev.type === 'log' ? ev.level : ev.enough ? 'info' : 'warn';
        live.log = [...live.log.slice(-49), { level, message: ev.message }];
        break;
      }
      default:
        break;
    }
  }

  private onExportEvent(ev: EngineEvent): void {
    if (ev.type === 'progress') this.exportProgress = { phase: ev.phase, done: ev.done, total: ev.total };
    else if (ev.type === 'phase') this.exportProgress = { phase: ev.phase, done: 0, total: 0 };
  }

  select(r: RunRecord): void {
    if (this.selected?.id !== r.id) {
      this.live = emptyLive();
      this.exportExists = false;
      this.cancelling = false;
      this.evaluation = null;
      this.exported = null;
      this.prediction = null;
      this.tryFile = null;
      this.heatmaps = {};
      this.tryExplanation = null;
      this.exportChoices = {};
      this.operatingPoint = null;
    }
    this.current = r;
  }

  async open(runId: string, route: 'train' | 'evaluate' | 'export' = 'train'): Promise<void> {
    if (!project.current) return;
    const r = await app.attempt(() => call('runs:get', { projectId: project.current!.id, runId }));
    if (r) {
      this.select(r);
      app.go(route);
    }
  }

  async reload(): Promise<void> {
    if (!project.current || !this.current) return;
    const r = await app.attempt(() => call('runs:get', { projectId: project.current!.id, runId: this.current!.id }));
    if (r) this.current = r;
  }

  async start(): Promise<void> {
    if (!project.current) return;
    this.starting = true;
    try {
      const res = await app.attempt(() => call('runs:start', { projectId: project.current!.id }));
      if (!res) return;
      this.live = emptyLive();
      const r = await app.attempt(() => call('runs:get', { projectId: project.current!.id, runId: res.runId }));
      if (r) this.select(r);
      app.go('train');
    } finally {
      this.starting = false;
    }
  }

  async resume(runId: string): Promise<void> {
    if (!project.current) return;
    const res = await app.attempt(() => call('runs:resume', { projectId: project.current!.id, runId }));
    if (!res) return;
    this.live = emptyLive();
    await this.open(res.runId, 'train');
  }

  async cancel(): Promise<void> {
    if (!this.current) return;
    this.cancelling = true;
    const r = await app.attempt(() => call('jobs:cancel', { jobId: this.current!.id }));
    if (!r?.cancelled) this.cancelling = false;
  }

  async evaluate(): Promise<void> {
    if (!project.current || !this.current) return;
    this.evaluating = true;
    try {
      const r = await app.attempt(() =>
        call('runs:evaluate', { projectId: project.current!.id, runId: this.current!.id }),
      );
      if (r) {
        this.evaluation = r;
        await project.loadThumbs(r.misclassified.slice(0, 24).map((m) => m.file));
      }
    } finally {
      this.evaluating = false;
    }
  }

  async chooseExportDir(): Promise<void> {
    const runId = this.current?.id;
    const d = await app.choose('folder', 'Choose where to write the exported model', (path) =>
      call('export:chooseFolder', { path }),
    );
    if (d && runId) {
      this.exportTo = { runId, dir: d };
      this.exportExists = false;
    }
  }

  async export(replace = false): Promise<void> {
    if (!project.current || !this.current || !this.exportDir) return;
    this.exporting = true;
    this.exportProgress = null;
    // the earlier export is being replaced: "Try it" must not use it meanwhile
    this.exported = null;
    this.prediction = null;
    this.tryExplanation = null;
    this.exportExists = false;
    try {
      const req = {
        projectId: project.current.id,
        runId: this.current.id,
        outDir: this.exportDir,
        replace,
        ...this.exportChoices,
      };
      const r = await call('export:run', req).catch((e: unknown) => {
        const err = asApiError(e);
        if (err.code === 'export-exists') this.exportExists = true;
        else app.fail(err);
        return null;
      });
      if (r) this.exported = r;
    } finally {
      this.exporting = false;
    }
  }

  async cancelExport(): Promise<void> {
    if (this.current) await app.attempt(() => call('jobs:cancel', { jobId: `export-${this.current!.id}` }));
  }

  get exportedModel(): string | null {
    return this.exported?.files.find((f) => f.endsWith('.onnx')) ?? null;
  }

  async chooseTryImage(): Promise<void> {
    const f = await app.choose(
      'file',
      'Choose an image to try the exported model on',
      (path) => call('export:chooseImage', { path }),
      ['png', 'jpg', 'jpeg', 'tif', 'tiff', 'bmp', 'webp'],
    );
    if (f) await this.tryOn(f);
  }

  async tryOn(file: string): Promise<void> {
    const model = this.exportedModel;
    if (!model) return;
    this.tryFile = file;
    this.prediction = null;
    this.tryExplanation = null;
    this.predicting = true;
    try {
      const p = await app.attempt(() => call('export:try', { modelPath: model, file }));
      if (p) this.prediction = p;
      await project.loadThumbs([file]);
    } finally {
      this.predicting = false;
    }
    if (this.showHeatmaps) await this.explainTry();
  }

  /** the heatmap of the Try-it image, from the exported file itself */
  private async explainTry(): Promise<void> {
    const exported = this.exported;
    const model = this.exportedModel;
    const file = this.tryFile;
    if (!model || !file || this.tryExplanation) return;
    this.explaining = true;
    try {
      const e = await app.attempt(() => call('export:explain', { modelPath: model, file }));
      // still the same image and export (a new export or image clears it)
      if (e && this.tryFile === file && this.exported === exported) this.tryExplanation = e;
    } finally {
      this.explaining = false;
    }
  }

  /** heatmaps of test images (the misclassified gallery), from the run's own classifier, 16 at a time */
  async explainRunImages(files: string[]): Promise<void> {
    if (!project.current || !this.current) return;
    const todo = files.filter((f) => !this.heatmaps[f]).slice(0, 16);
    if (!todo.length || this.explaining) return;
    this.explaining = true;
    try {
      const r = await app.attempt(() =>
        call('runs:explain', { projectId: project.current!.id, runId: this.current!.id, files: todo }),
      );
      if (r) this.heatmaps = { ...this.heatmaps, ...Object.fromEntries(r.map((e) => [e.file, e])) };
    } finally {
      this.explaining = false;
    }
  }

  async toggleHeatmaps(on: boolean): Promise<void> {
    this.showHeatmaps = on;
    if (on) await this.explainTry();
  }

  /** sets (or clears) the next export's operating point and previews it: fitted on validation, reported on test */
  async setOperatingPoint(op: ExportChoices['operatingPoint'] | null): Promise<void> {
    this.exportChoices = { ...this.exportChoices, operatingPoint: op ?? undefined };
    this.operatingPoint = null;
    const asked = ++this.opRequests;
    if (!op || !project.current || !this.current) return;
    const r = await app.attempt(() =>
      call('runs:operatingPoint', { projectId: project.current!.id, runId: this.current!.id, operatingPoint: op }),
    );
    // only the latest request's answer (the user may have changed the target meanwhile)
    if (r && asked === this.opRequests) this.operatingPoint = r;
  }

  setReferBelow(v: number | null): void {
    this.exportChoices = { ...this.exportChoices, referBelow: v ?? undefined };
  }

  async reveal(path: string): Promise<void> {
    const r = await app.attempt(() => call('shell:reveal', { path }));
    if (r && !r.shown) app.notice = `The files are in ${path}.`;
  }

  async loadCompare(ids: string[]): Promise<void> {
    if (!project.current) return;
    const pid = project.current.id;
    const out: RunRecord[] = [];
    for (const id of ids) {
      const r = await app.attempt(() => call('runs:get', { projectId: pid, runId: id }));
      if (r) out.push(r);
    }
    this.compared = out;
  }
}

export const run = new RunStore();
