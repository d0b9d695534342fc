/**
 * A training run's memory, estimated before the run exists (the Method screen): the step the trainer would compile
 * for this backbone, method and options, counted by programs/memory.ts against the memory free now. What a step
 * holds grows linearly with the batch (programs/memory.test.ts), so each backbone, method and options is compiled
 * once and scaled to every batch asked for: changing the batch answers at once.
 */
import { stat } from 'node:fs/promises';
import { freemem } from 'node:os';
import { resolve } from 'node:path';
import { loadBackbone, withNewHead } from '../backbone/load';
import { AttuneError } from '../errors';
import type { MemoryNotice } from '../events';
import { standInSelection } from '../methods/gps/select';
import { numberOption, type MethodOptions } from '../methods/method';
import { getMethod } from '../methods/registry';
import { memoryAdvice, scaledToBatch, type StepMemory } from '../programs/memory';
import { compileRunStep } from '../train/optimizer-choice';
import { hyperFrom, widenedFor, type RunRequest } from './setup';
import { inputChannels as bandChannels, parseBandSelection } from '../data/bands';
import { trainWidenedInput } from '../methods/widened-input';
import { planProviders, type ProviderRequest } from '../runtime/providers';
import { platformInfo } from '../runtime/session';

export interface MemoryEstimateRequest {
  modelPath: string;
  method: string;
  /** method options by name (LoRA rank, GPS k, PACE σ and λ, …) */
  options?: MethodOptions;
  batchSize: number;
  numClasses: number;
  /** the provider the run will ask for (default auto) */
  provider?: ProviderRequest;
  /** multispectral images: the band selection (the --bands forms) and the images' band count; all bands widen the
   * first convolution */
  bands?: string;
  bandCount?: number;
  /** what else sets the program, as the run request gives it (default: the method's) */
  hyper?: Pick<RunRequest, 'optimizer' | 'spdLambda' | 'weightDecay' | 'clipNorm'>;
}

/** The estimate against the memory free now, or why there is none for this method. */
export type MemoryEstimate = { notice: MemoryNotice; reason?: undefined } | { notice: null; reason: string };

interface Counted {
  memory: StepMemory;
  batch: number;
  diagnostics: number;
}

/** The count per backbone file (its path, size and time), method and options: a few per session. */
const counted = new Map<string, Promise<Counted>>();

/** The batch every count is compiled at (most methods' default): exact there, scaled to any other (within 3 %). */
const COUNT_BATCH = 32;

async function count(r: MemoryEstimateRequest): Promise<Counted> {
  const method = getMethod(r.method);
  const channels = r.bands && r.bandCount ? bandChannels(parseBandSelection(r.bands, r.bandCount), r.bandCount) : 3;
  const backbone = withNewHead(
    await widenedFor(await loadBackbone(r.modelPath), channels, r.bandCount),
    r.numClasses,
    0,
  );
  const hyper = hyperFrom({ ...r.hyper, batch: COUNT_BATCH }, method);
  const options = { ...r.options, weightDecay: hyper.weightDecay };
  // GPS's selection reads the training images; a stand-in picks as many weights per neuron, which sets the shapes
  const saved =
    method.name === 'gps'
      ? standInSelection(backbone.model.graph, numberOption(method.options, options, 'k'))
      : undefined;
  const prepared = trainWidenedInput(
    method,
    await method.prepare({ backbone, options, seed: 0, batch: COUNT_BATCH }, saved),
    backbone,
    hyper.weightDecay,
  );
  const program = await compileRunStep(backbone.model, prepared, hyper, COUNT_BATCH, r.numClasses);
  return { memory: program.memory, batch: COUNT_BATCH, diagnostics: prepared.epochDiagnostics ? 1 : 0 };
}

/**
 * How much memory a CPU run of `r` would need, and whether it fits in what the machine has free now (with the same
 * margin and batch advice the run itself gives before its first step).
 */
export async function estimateRunMemory(r: MemoryEstimateRequest): Promise<MemoryEstimate> {
  const method = getMethod(r.method);
  const device = planProviders(r.provider ?? 'auto', platformInfo()).order[0];
  if (device !== 'cpu')
    return {
      notice: null,
      reason: `Training will run on ${device.toUpperCase()}: what limits it is the accelerator's memory, which Attune does not estimate. If the run stops for lack of memory, lower the batch size.`,
    };
  if (method.cachedFeatures)
    return {
      notice: null,
      reason: `${method.title} trains on features computed once, one batch of images at a time: it needs far less memory than the methods that train the backbone.`,
    };
  const file = await stat(r.modelPath).catch(() => {
    throw new AttuneError(
      'model-missing',
      `The backbone file ${r.modelPath} cannot be read, so its memory cannot be estimated.`,
      'Choose the backbone again on the Model screen (attune train: --model).',
    );
  });
  const key = JSON.stringify([
    resolve(r.modelPath),
    file.size,
    file.mtimeMs,
    r.method,
    r.options ?? {},
    r.numClasses,
    r.hyper ?? {},
    r.bands ?? null,
    r.bandCount ?? null,
  ]);
  if (!counted.has(key)) counted.set(key, count(r));
  const c = await counted.get(key)!.catch((e: unknown) => {
    counted.delete(key);
    throw e;
  });
  return { notice: memoryAdvice(scaledToBatch(c.memory, c.batch, r.batchSize), r.batchSize, freemem(), c.diagnostics) };
}
