/**
 * The one IPC channel map. Every request is validated with its zod schema in main before a handler sees it;
 * request types are derived from the schemas, response types are listed beside them.
 */
import { z } from 'zod';
// a plain list (no engine code comes with it)
import { PROVIDER_REQUESTS } from '../../engine/runtime/providers';
import type {
  EvaluationReport,
  ExportResult,
  KFoldSummary,
  MethodListing,
  MemoryEstimate,
  OperatingPoint,
  Prediction,
  ScanReport,
  BackboneInfo,
} from '../jobs/engine-contract';
import type { ExplanationView } from '../jobs/heatmaps';
import type {
  AppEvent,
  CsvColumns,
  Transport,
  CatalogueEntryView,
  JobStarted,
  Project,
  ProjectSummary,
  RunRecord,
  RunSummary,
  Settings,
  UserErrorInfo,
} from './types';

const id = z.string().regex(/^[a-z0-9-]{1,64}$/, 'not a valid id');
const absPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(p), 'must be an absolute path');
const none = z.object({}).strict();
const columnName = z.string().min(1).max(200);
const valueOffset = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 32);
/** browser mode: what the user picked in the in-app file browser (Electron uses native dialogs and ignores it) */
const picked = absPath.optional();
const choose = z.object({ path: picked }).strict();

export const split = z.object({
  valFraction: z.number().min(0.05, 'must be at least 5 %').max(0.4, 'must be at most 40 %'),
  testFraction: z.number().min(0.05, 'must be at least 5 %').max(0.4, 'must be at most 40 %'),
  seed: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(2 ** 31 - 1, 'is too large'),
});

/** What people call the fields a request carries, for messages about invalid input. */
export const FIELD_NAMES: Record<string, string> = {
  'split.valFraction': 'Validation share',
  'split.testFraction': 'Test share',
  'split.seed': 'Split seed',
  'method.epochs': 'Epochs',
  'method.batchSize': 'Batch size',
  'method.learningRate': 'Learning rate',
  'method.seed': 'Training seed',
  name: 'Name',
  path: 'Location',
};

const methodChoice = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,40}$/),
  epochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(1024),
  learningRate: z.number().positive().max(1),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  options: z.record(z.string().regex(/^[a-zA-Z0-9_]{1,40}$/), z.number().finite()),
  augment: z.enum(['none', 'natural', 'aerial', 'medical']).optional(),
  /** class imbalance: unset = the scan's proposal (see main/runs/balance.ts) */
  balance: z.enum(['none', 'weights', 'sampling']).optional(),
});

/** the operating point fitted on validation before exporting: positive class and a sensitivity/specificity floor */
const operatingPoint = z
  .object({
    positiveClass: z.string().min(1).max(200),
    metric: z.enum(['sensitivity', 'specificity']),
    atLeast: z.number().min(0.5).max(1),
  })
  .strict();

export const contract = {
  'app:info': none,
  'settings:get': none,
  'settings:update': z
    .object({
      provider: z.enum(PROVIDER_REQUESTS).optional(),
      catalogueSource: z.string().max(4096).nullable().optional(),
    })
    .strict(),
  'settings:chooseWorkspace': choose,
  'settings:chooseCatalogue': choose,

  'projects:list': none,
  'projects:create': z.object({ name: z.string().trim().min(1, 'Give the project a name').max(120) }).strict(),
  'projects:get': z.object({ id }).strict(),
  'projects:update': z
    .object({
      id,
      name: z.string().trim().min(1).max(120).optional(),
      split: split.optional(),
      method: methodChoice.optional(),
      /** DICOM/16-bit window ('' = each file's own) */
      window: z
        .string()
        .max(40)
        .regex(/^[a-z0-9.,:\- ]*$/i)
        .optional(),
      /** multispectral bands ('' = default) */
      bands: z
        .string()
        .max(40)
        .regex(/^[a-z0-9, -]*$/i)
        .optional(),
      /** multi-frame DICOM: each file's middle frame, or every frame as its own sample */
      frames: z.enum(['middle', 'all']).optional(),
      /** 16-bit PNG/TIFF value offset (null = none) */
      valueOffset: valueOffset.nullable().optional(),
    })
    .strict(),
  'projects:delete': z.object({ id }).strict(),
  'projects:override': z
    .object({
      id,
      file: absPath,
      action: z.enum(['exclude', 'relabel', 'clear']),
      label: z.string().min(1).max(200).optional(),
    })
    .strict(),

  'data:chooseFolder': z.object({ projectId: id, path: picked }).strict(),
  'data:chooseCsv': z.object({ projectId: id, path: picked }).strict(),
  'data:useDropped': z.object({ projectId: id, path: absPath }).strict(),
  'data:scan': z.object({ projectId: id }).strict(),
  'data:csvColumns': z.object({ projectId: id }).strict(),
  'data:setColumns': z
    .object({
      projectId: id,
      /** null: back to the columns recognised by name */
      columns: z.object({ path: columnName, label: columnName, group: columnName.optional() }).strict().nullable(),
    })
    .strict(),
  'data:thumbnails': z
    .object({
      files: z.array(absPath).max(64),
      size: z.number().int().min(32).max(768).optional(),
      /** preview DICOM/16-bit images through this window (the --window forms) */
      window: z
        .string()
        .max(40)
        .regex(/^[a-z0-9.,:\- ]+$/i)
        .optional(),
      /** preview multispectral images through these bands (the --bands forms) */
      bands: z
        .string()
        .max(40)
        .regex(/^[a-z0-9,\- ]+$/i)
        .optional(),
      /** 16-bit PNG/TIFF: subtracted before the window */
      valueOffset: valueOffset.optional(),
    })
    .strict(),

  'models:catalogue': none,
  'models:download': z.object({ entryId: z.string().regex(/^[a-zA-Z0-9._-]{1,80}$/) }).strict(),
  'models:useCatalogue': z.object({ projectId: id, entryId: z.string().regex(/^[a-zA-Z0-9._-]{1,80}$/) }).strict(),
  'models:openFile': z.object({ projectId: id, path: picked }).strict(),
  'models:inspect': z.object({ projectId: id }).strict(),

  'methods:list': z.object({ projectId: id }).strict(),
  /** the memory a run of the project's chosen method would need, against what is free now */
  'methods:memory': z.object({ projectId: id }).strict(),
  'methods:race': z
    .object({
      projectId: id,
      /** candidates (default: the engine's) and the winner's full budget in epochs */
      methods: z
        .array(z.string().regex(/^[a-z0-9-]{1,40}$/))
        .min(2)
        .max(12)
        .optional(),
      epochs: z.number().int().min(1).max(300).optional(),
    })
    .strict(),

  'runs:recent': none,
  'runs:list': z.object({ projectId: id }).strict(),
  'runs:get': z.object({ projectId: id, runId: id }).strict(),
  'runs:start': z.object({ projectId: id }).strict(),
  'runs:resume': z.object({ projectId: id, runId: id }).strict(),
  'runs:evaluate': z.object({ projectId: id, runId: id }).strict(),
  /** k-fold cross-validation of a finished run's recipe (offered where its figures are rough) */
  'runs:kfold': z.object({ projectId: id, runId: id, folds: z.number().int().min(3).max(10).optional() }).strict(),
  /** the run's last finished k-fold result, or null */
  'runs:kfoldResult': z.object({ projectId: id, runId: id }).strict(),
  /** heatmaps for images of the run's test set (the misclassified gallery) */
  'runs:explain': z.object({ projectId: id, runId: id, files: z.array(absPath).min(1).max(16) }).strict(),
  /** the operating point as it would be exported: fitted on validation, reported on test */
  'runs:operatingPoint': z.object({ projectId: id, runId: id, operatingPoint }).strict(),

  'jobs:cancel': z.object({ jobId: z.string().min(1).max(120) }).strict(),

  'export:chooseFolder': choose,
  'export:run': z
    .object({
      projectId: id,
      runId: id,
      outDir: absPath,
      replace: z.boolean().optional(),
      operatingPoint: operatingPoint.optional(),
      /** the exported model refers images below this confidence to a person */
      referBelow: z.number().min(0).max(0.99).optional(),
    })
    .strict(),
  'export:chooseImage': choose,
  'export:try': z.object({ modelPath: absPath, file: absPath }).strict(),
  'export:explain': z.object({ modelPath: absPath, file: absPath }).strict(),

  'shell:reveal': z.object({ path: absPath }).strict(),

  'files:list': z
    .object({
      path: picked,
      files: z.boolean().optional(),
      extensions: z
        .array(z.string().regex(/^[a-z0-9]{1,8}$/))
        .max(16)
        .optional(),
    })
    .strict(),
} as const;

export type Channel = keyof typeof contract;
export type Request<C extends Channel> = z.input<(typeof contract)[C]>;
export type ParsedRequest<C extends Channel> = z.output<(typeof contract)[C]>;

export interface AppInfo {
  version: string;
  platform: string;
  workspace: string;
  catalogueSource: string | null;
  interruptedRuns: number;
  transport: Transport;
}

export interface Responses {
  'app:info': AppInfo;
  'settings:get': Settings;
  'settings:update': Settings;
  'settings:chooseWorkspace': Settings | null;
  'settings:chooseCatalogue': Settings | null;
  'projects:list': ProjectSummary[];
  'projects:create': Project;
  'projects:get': Project;
  'projects:update': Project;
  'projects:delete': { deleted: true };
  'projects:override': Project;
  'data:chooseFolder': Project | null;
  'data:chooseCsv': Project | null;
  'data:useDropped': Project;
  'data:scan': ScanReport;
  /** the CSV's columns, those recognised by name, and the user's choice (null: none made) */
  'data:csvColumns': { header: string[]; detected: Partial<CsvColumns>; chosen: CsvColumns | null };
  'data:setColumns': Project;
  'data:thumbnails': { file: string; dataUrl: string | null; error?: string }[];
  'models:catalogue': CatalogueEntryView[];
  'models:download': JobStarted;
  'models:useCatalogue': Project;
  'models:openFile': Project | null;
  'models:inspect': BackboneInfo;
  'methods:list': MethodListing;
  'methods:memory': MemoryEstimate;
  'methods:race': JobStarted & { raceDir: string };
  'runs:recent': RunSummary[];
  'runs:list': RunSummary[];
  'runs:get': RunRecord;
  'runs:start': JobStarted & { runId: string };
  'runs:resume': JobStarted & { runId: string };
  'runs:evaluate': EvaluationReport;
  'runs:kfold': JobStarted & { kfoldDir: string };
  'runs:kfoldResult': KFoldSummary | null;
  'runs:explain': ExplanationView[];
  'runs:operatingPoint': OperatingPoint;
  'jobs:cancel': { cancelled: boolean };
  'export:chooseFolder': string | null;
  'export:run': ExportResult;
  'export:chooseImage': string | null;
  'export:try': Prediction;
  'export:explain': ExplanationView;
  'shell:reveal': { shown: boolean };
  'files:list': FileListing;
}

export interface FileListing {
  /** null: the list of roots */
  path: string | null;
  /** null at a root */
  parent: string | null;
  entries: { name: string; path: string; kind: 'folder' | 'file' }[];
}

export type Response<C extends Channel> = Responses[C];

export type Envelope<T> = { ok: true; value: T } | { ok: false; error: UserErrorInfo };

/** The API the preload exposes as `window.attune` (and the e2e shim imitates). */
export interface AttuneApi {
  invoke<C extends Channel>(channel: C, request: Request<C>): Promise<Envelope<Response<C>>>;
  onEvent(cb: (e: AppEvent) => void): () => void;
  /** path of a dropped File, granted for this session (desktop only; browser mode throws with a hint) */
  grantDropped(file: File): Promise<string>;
}
