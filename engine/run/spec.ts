/** The run spec: everything needed to reproduce or resume a run, saved as run.json and validated when read. */
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from '../util/fs';
import { PROVIDER_REQUESTS } from '../runtime/providers';
import { normalisePreprocessing, type Preprocessing } from '../preprocessing';

const HyperSchema = z.object({
  lr: z.number().positive(),
  epochs: z.number().int().positive(),
  batch: z.number().int().positive(),
  weightDecay: z.number().min(0),
  warmupEpochs: z.number().min(0),
  labelSmoothing: z.number().min(0).max(1),
  clipNorm: z.number().positive().nullable(),
  optimizer: z.enum(['adamw', 'spd']),
  spdLambda: z.number().min(0).max(1),
});
export type Hyper = z.infer<typeof HyperSchema>;

const VoiSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file') }),
  z.object({
    kind: z.literal('window'),
    center: z.number(),
    width: z.number().positive(),
    preset: z.enum(['lung', 'mediastinum', 'bone', 'brain']).optional(),
  }),
  z.object({
    kind: z.literal('percentile'),
    low: z.number().min(0).max(100),
    high: z.number().min(0).max(100),
    scope: z.enum(['image', 'dataset']),
    fitted: z.object({ lo: z.number(), hi: z.number() }).optional(),
  }),
  z.object({ kind: z.literal('full-range') }),
]);

const ValueMappingSchema = z.object({
  voi: VoiSchema,
  offset: z.number(),
  invertMonochrome1: z.literal(true),
  bands: z
    .object({
      selection: z.discriminatedUnion('mode', [
        z.object({
          mode: z.literal('map'),
          bands: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
        }),
        z.object({ mode: z.literal('all') }),
      ]),
      bandCount: z.number().int().positive(),
      scaling: z
        .object({
          kind: z.literal('attune.band-scaling'),
          version: z.literal(1),
          valueScale: z.number(),
          bandCount: z.number().int().positive(),
          rasters: z.number().int(),
          sampleSize: z.number().int(),
          seed: z.number().int(),
          bands: z.array(
            z.object({
              mean: z.number(),
              std: z.number(),
              p2: z.number(),
              p98: z.number(),
              min: z.number(),
              max: z.number(),
              count: z.number(),
            }),
          ),
        })
        .optional(),
    })
    .optional(),
});

const PreprocessingSchema = z.object({
  size: z.number().int().positive(),
  resize: z.enum(['shorter-crop', 'squash', 'pad']),
  resizeTo: z.number().int().positive(),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number(), z.number(), z.number()]),
  channelOrder: z.literal('RGB'),
  values: ValueMappingSchema,
});

/** How training counters class imbalance: nothing, class-weighted loss, or class-balanced sampling. */
export const BALANCE_MODES = ['none', 'weights', 'sampling'] as const;
export type BalanceMode = (typeof BALANCE_MODES)[number];
/**
 * The validation figure that picks the best epoch; balanced accuracy by default, since plain accuracy rewards the
 * majority class.
 */
export const SELECT_BY = ['balanced-accuracy', 'macro-f1', 'accuracy'] as const;
export type SelectBy = (typeof SELECT_BY)[number];

const RunSpecSchema = z.object({
  version: z.literal(1),
  data: z.object({
    root: z.string(),
    labels: z.string().optional(),
    columns: z
      .object({ path: z.string().optional(), label: z.string().optional(), group: z.string().optional() })
      .optional(),
    fingerprint: z.string().optional(),
    /** multi-frame DICOM: 'all' made every frame a sample */
    frames: z.enum(['middle', 'all']).optional(),
    /** the user's corrections the split was made with (k-fold of this run applies them to its folds too) */
    overrides: z
      .object({ exclude: z.array(z.string()).optional(), relabel: z.record(z.string(), z.string()).optional() })
      .optional(),
  }),
  classes: z.array(z.string()).min(2),
  backbone: z.object({ path: z.string(), sha256: z.string(), feature: z.string().optional() }),
  // runs made before the value mapping existed record `bitDepthRule` instead of `values`
  preprocessing: z.preprocess(
    (v) => (v && typeof v === 'object' ? normalisePreprocessing(v as Preprocessing) : v),
    PreprocessingSchema,
  ),
  augment: z.enum(['none', 'natural', 'aerial', 'medical']),
  method: z.string(),
  methodOptions: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  hyper: HyperSchema,
  seed: z.number().int(),
  provider: z.enum(PROVIDER_REQUESTS),
  /** steps per session.run inside an ONNX Loop (1 = plain step graph) */
  stepsPerRun: z.number().int().positive(),
  /** runs from before these options existed read as none / accuracy, which is what they did */
  balance: z.enum(BALANCE_MODES).default('none'),
  selectBy: z.enum(SELECT_BY).default('accuracy'),
  createdAt: z.string(),
});
export type RunSpec = z.infer<typeof RunSpecSchema>;

export const runFiles = (runDir: string) => ({
  spec: join(runDir, 'run.json'),
  split: join(runDir, 'split.json'),
  metrics: join(runDir, 'metrics.jsonl'),
  last: join(runDir, 'state', 'last.ckpt'),
  best: join(runDir, 'state', 'best.ckpt'),
  methodState: join(runDir, 'method-state.json'),
  evaluation: join(runDir, 'evaluation.json'),
  /** calibrated val/test probabilities, for operating points fitted after training */
  predictions: join(runDir, 'predictions.json'),
  status: join(runDir, 'status.json'),
});

export async function saveRunSpec(runDir: string, spec: RunSpec): Promise<void> {
  await writeJsonAtomic(runFiles(runDir).spec, spec);
}

export async function loadRunSpec(runDir: string): Promise<RunSpec> {
  return readJsonFile(runFiles(runDir).spec, RunSpecSchema, {
    unreadable: {
      code: 'run-missing',
      message: `${runDir} is not an Attune run folder (no readable run.json).`,
      hint: 'Choose the folder that `attune train --out` wrote.',
    },
    invalid: {
      code: 'run-invalid',
      message: `${runDir}/run.json is damaged or from another version.`,
      hint: 'Train the run again.',
    },
  });
}
