/**
 * The sweep spec: what a sweep runs (methods × hyper-parameters × seeds × folds on one dataset and backbone).
 * Read from a JSON or YAML file or built from CLI flags, validated by one schema whose errors name the field.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AttuneError } from '../errors';
import type { OptionSpec } from '../methods/method';
import { METHODS } from '../methods/registry';
import { PROVIDER_REQUESTS } from '../runtime/providers';
import { BALANCE_MODES, SELECT_BY } from '../run/spec';
import { parseWindow } from '../preprocessing';
import { parseBandSelection } from '../data/bands';

const Value = z.union([z.number(), z.string(), z.boolean()]);
const MethodEntry = z.union([
  z.string(),
  z
    .object({
      method: z.string(),
      /** label in the results (default: the method name plus its options) */
      name: z.string().optional(),
      options: z.record(z.string(), Value).optional(),
      /** this entry's own grid: method option names (or spdLambda) → values */
      grid: z.record(z.string(), z.array(Value).min(1)).optional(),
      lr: z.number().positive().optional(),
      batch: z.number().int().positive().optional(),
      epochs: z.number().int().positive().optional(),
      weightDecay: z.number().min(0).optional(),
      optimizer: z.enum(['adamw', 'spd']).optional(),
      spdLambda: z.number().min(0).max(1).optional(),
      /** the rest of a run's recipe (k-fold copies them from the run it cross-validates) */
      warmupEpochs: z.number().min(0).optional(),
      labelSmoothing: z.number().min(0).max(1).optional(),
      /** null: no gradient clipping */
      clipNorm: z.number().positive().nullable().optional(),
    })
    .strict(),
]);

/** Hyper-parameters a grid may vary; `options` varies method options by name (e.g. rank). */
const GridSchema = z
  .object({
    lr: z.array(z.number().positive()).min(1).optional(),
    batch: z.array(z.number().int().positive()).min(1).optional(),
    epochs: z.array(z.number().int().positive()).min(1).optional(),
    weightDecay: z.array(z.number().min(0)).min(1).optional(),
    options: z.record(z.string(), z.array(Value).min(1)).optional(),
  })
  .strict();

const SweepSpecSchema = z
  .object({
    version: z.literal(1).default(1),
    data: z.string().min(1),
    labels: z.string().optional(),
    columns: z
      .object({ path: z.string().optional(), label: z.string().optional(), group: z.string().optional() })
      .strict()
      .optional(),
    model: z.string().min(1),
    methods: z.array(MethodEntry).min(1),
    grid: GridSchema.default({}),
    seeds: z.array(z.number().int().min(0)).min(1).default([0]),
    /** 0 or 1: one shared train/val/test split; k ≥ 2: k folds, each fold the test set once */
    folds: z.number().int().min(0).max(50).default(0),
    ratios: z.tuple([z.number().min(0), z.number().min(0), z.number().min(0)]).optional(),
    epochs: z.number().int().positive().optional(),
    batch: z.number().int().positive().optional(),
    lr: z.number().positive().optional(),
    augment: z.enum(['none', 'natural', 'aerial', 'medical']).optional(),
    provider: z.enum(PROVIDER_REQUESTS).optional(),
    /** DICOM/16-bit window, multispectral bands and multi-frame use, in the CLI's forms (--window, --bands, …) */
    window: z.string().min(1).max(60).optional(),
    valueOffset: z.number().optional(),
    bands: z.string().min(1).max(60).optional(),
    frames: z.enum(['middle', 'all']).optional(),
    /** the user's corrections (files relative to data, '/'-separated): left out of, or relabelled in, every split */
    overrides: z
      .object({
        exclude: z.array(z.string().min(1)).optional(),
        relabel: z.record(z.string().min(1), z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    /** class imbalance and the validation figure that picks each trial's best epoch */
    balance: z.enum(BALANCE_MODES).optional(),
    selectBy: z.enum(SELECT_BY).optional(),
    /** successive halving: keep this fraction per rung (default a third) */
    race: z
      .object({
        keep: z
          .number()
          .gt(0)
          .lt(1)
          .default(1 / 3),
      })
      .strict()
      .optional(),
  })
  .strict();
export type SweepSpec = z.infer<typeof SweepSpecSchema>;
export type SweepSpecInput = z.input<typeof SweepSpecSchema>;

const fieldPath = (p: readonly PropertyKey[]) =>
  p
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .replace(/^\./, '') || '(top level)';

/** Validates a spec; the error names every bad field (`methods[1].options`, `seeds[0]`, …). */
export function validateSweepSpec(raw: unknown, source = 'the sweep spec'): SweepSpec {
  const r = SweepSpecSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `${fieldPath(i.path)}: ${i.message}`);
    throw new AttuneError(
      'sweep-spec-invalid',
      `${source} is not valid: ${lines.join('; ')}.`,
      'Fix the named field(s); `attune sweep --help` lists the fields.',
      { issues: lines },
    );
  }
  const spec = r.data;
  // the value mapping in the CLI's forms: the same parsers as --window and --bands, errors naming the field
  for (const [field, text, parse] of [
    ['window', spec.window, parseWindow],
    ['bands', spec.bands, parseBandSelection],
  ] as const) {
    if (text === undefined) continue;
    try {
      parse(text);
    } catch (e) {
      const why = e instanceof AttuneError ? `${e.message} ${e.hint}` : String(e);
      throw new AttuneError('sweep-spec-invalid', `${source} is not valid: ${field}: ${why}`, 'Fix the named field.');
    }
  }
  spec.methods.forEach((m, i) => {
    const name = typeof m === 'string' ? m : m.method;
    const method = METHODS.find((x) => x.name === name);
    if (!method)
      throw new AttuneError(
        'sweep-spec-invalid',
        `${source} is not valid: methods[${i}]: no method called "${name}".`,
        `Use one of ${METHODS.map((x) => x.name).join(', ')}.`,
      );
    if (typeof m === 'string') return;
    const values: [string, string, unknown][] = [
      ...Object.entries(m.options ?? {}).map(
        ([k, v]) => [`methods[${i}].options.${k}`, k, v] as [string, string, unknown],
      ),
      ...Object.entries(m.grid ?? {})
        .filter(([k]) => k !== 'spdLambda')
        .flatMap(([k, vs]) => vs.map((v, j) => [`methods[${i}].grid.${k}[${j}]`, k, v] as [string, string, unknown])),
    ];
    for (const [field, k, v] of values) {
      const o = method.options.find((x) => x.name === k);
      if (!o)
        throw new AttuneError(
          'sweep-spec-invalid',
          `${source} is not valid: ${field}: ${name} has no option "${k}".`,
          `${name} takes ${method.options.map((x) => x.name).join(', ') || 'no options'}.`,
        );
      checkOption(source, field, o, v);
    }
    for (const [j, v] of (m.grid?.spdLambda ?? []).entries())
      if (typeof v !== 'number' || v < 0 || v > 1)
        throw new AttuneError(
          'sweep-spec-invalid',
          `${source} is not valid: methods[${i}].grid.spdLambda[${j}]: must be a number from 0 to 1.`,
          "SPD's λ lies in [0, 1].",
        );
  });
  for (const [k, vs] of Object.entries(spec.grid.options ?? {})) {
    const specs = METHODS.flatMap((m) => m.options.filter((o) => o.name === k));
    if (!specs.length)
      throw new AttuneError(
        'sweep-spec-invalid',
        `${source} is not valid: grid.options.${k}: no method has an option "${k}".`,
        'Use an option name from `attune train --help`.',
      );
    vs.forEach((v, j) => checkOption(source, `grid.options.${k}[${j}]`, specs[0], v));
  }
  return spec;
}

/** A method option's value: its kind and bounds, as `attune train` would check them (but before any trial starts). */
function checkOption(source: string, field: string, o: OptionSpec, v: unknown): void {
  const ok =
    o.kind === 'boolean'
      ? typeof v === 'boolean'
      : o.kind === 'string'
        ? typeof v === 'string'
        : typeof v === 'number' &&
          Number.isFinite(v) &&
          (o.kind !== 'integer' || Number.isInteger(v)) &&
          (o.min === undefined || v >= o.min) &&
          (o.max === undefined || v <= o.max);
  if (!ok) {
    const want =
      o.kind === 'integer' || o.kind === 'number'
        ? `${o.kind === 'integer' ? 'a whole number' : 'a number'}${o.min !== undefined ? ` ≥ ${o.min}` : ''}${o.max !== undefined ? ` ≤ ${o.max}` : ''}`
        : `a ${o.kind}`;
    throw new AttuneError(
      'sweep-spec-invalid',
      `${source} is not valid: ${field}: must be ${want}, not ${JSON.stringify(v)}.`,
      `${o.name}: ${o.description}.`,
    );
  }
}

/** Reads a JSON or YAML spec file; relative data/model/labels paths are relative to the file's folder. */
export async function loadSweepSpecFile(file: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new AttuneError(
      'sweep-spec-missing',
      `Cannot read the sweep spec ${file}.`,
      'Check the path given to --spec.',
    );
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new AttuneError(
      'sweep-spec-invalid',
      `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`,
      'Fix the syntax and run again.',
    );
  }
  const spec = validateSweepSpec(raw, file);
  const dir = resolve(file, '..');
  return {
    ...spec,
    data: resolve(dir, spec.data),
    model: resolve(dir, spec.model),
    ...(spec.labels ? { labels: resolve(dir, spec.labels) } : {}),
  };
}
