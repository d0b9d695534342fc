/**
 * GPS — Gradient-based Parameter Selection (METHODS.md §GPS; Zhang et al., CVPR 2024; code FightingFighting/GPS).
 *  1. Selection (prepare): SupCon on two augmented views per training image, one pass, G = Σ ∂L/∂W (select.ts).
 *  2. Per-neuron top-K of |G| for every weight matrix (Linear/Gemm/MatMul and Conv incl. the patch embedding).
 *  3. Masked training: W = W0 + scatter(idx, δ), written as a ScatterND of W0[idx] + δ into W0 (whose gradient is
 *     exactly gather(∂L/∂W, idx)); δ [rows, K] is the only trainable tensor per
 *     matrix, with weight decay 0 (decay would move frozen entries). Biases and the new head train;
 *     norms, position embeddings and the class token stay frozen.
 *  4. Export: dense merged weights, and a sparse patch (patch.ts) that `attune apply-patch` turns back into the export.
 * Defaults follow the official VTAB scripts: Adam with weight decay 0 (head included), no gradient clipping,
 * lr 1e-3, batch 32, K = 1, cosine with warm-up.
 */
import { HEAD_BIAS, HEAD_WEIGHT } from '../../backbone/prepare';
import type { AugmentOptions } from '../../data/augment';
import { AttuneError } from '../../errors';
import type { Builder } from '../../ir/builder';
import { replaceUses, type Graph, type Model, type Node } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { accumulateGradients, checkK, compileSelectionProgram, SUPCON_TAU, topKPerRow } from './select';
import { PATCH_FILE, writeGpsPatch } from './patch';
import { gpsDelta, mergeGpsWeight, type GpsMatrix, type GpsState } from './weights';
import { biasTensors, flatIndex, weightMatrices } from '../layers';
import { headParameters, mergeByName, numberOption, sizeOfTensors, type Method } from '../method';

const blockLabel = (b: number) => (b >= 0 ? `block ${b}` : 'outside blocks');

/**
 * The two SupCon views per image (METHODS.md §GPS step 1; FightingFighting/GPS data/transforms_factory.py,
 * transforms_contrastaug_train): RandomResizedCrop scale 0.08–1 and horizontal flip ('natural'),
 * ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8, RandomGrayscale p = 0.2.
 */
export const GPS_SELECTION_VIEWS: AugmentOptions = { preset: 'natural', colorJitterProbability: 0.8, grayscale: 0.2 };

/** The selection phase: SupCon gradients over one pass of two-view batches, then per-neuron top-K. */
async function select(ctx: Parameters<Method['prepare']>[0], k: number): Promise<GpsState> {
  if (!ctx.trainBatches) throw new Error('GPS needs the training images to select parameters');
  const prepared = ctx.backbone.model;
  checkK(prepared.graph, k);
  const views = 2 * ctx.batch;
  const program = await compileSelectionProgram(prepared, views);
  const inputShape = program.model.graph.inputs.find((i) => i.name === program.imageInput)!.shape as number[];
  const rowSize = inputShape.slice(1).reduce((a, b) => a * b, 1);
  ctx.onEvent?.({
    type: 'phase',
    phase: 'gps-select',
    detail: `SupCon gradients over the training set (two views per image, τ = ${SUPCON_TAU})`,
  });
  const G = await accumulateGradients(
    program,
    ctx.trainBatches(2, GPS_SELECTION_VIEWS),
    rowSize,
    (done) => ctx.onEvent?.({ type: 'progress', phase: 'gps-select', done: done / 2, total: 0, detail: 'images' }),
    ctx.signal,
  );
  for (const w of program.weights) {
    const bad = G.get(w.name)!.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new AttuneError(
        'gps-gradient-not-finite',
        `GPS selection failed: the contrastive gradient of ${w.name} is not a finite number (${G.get(w.name)![bad]}).`,
        'Check that the images load correctly and that the backbone gives finite features (attune scan, then train a linear probe).',
      );
  }
  const matrices: GpsMatrix[] = program.weights.map((w) => ({
    ...w,
    idx: Array.from(topKPerRow(G.get(w.name)!, w, k)),
  }));
  const blockCounts: Record<string, number> = {};
  for (const m of matrices) blockCounts[blockLabel(m.block)] = (blockCounts[blockLabel(m.block)] ?? 0) + m.idx.length;
  const selected = matrices.reduce((a, m) => a + m.idx.length, 0);
  const totalWeights = matrices.reduce((a, m) => a + m.rows * m.cols, 0);
  ctx.onEvent?.({ type: 'selection', method: 'gps', selected, total: totalWeights, perBlock: blockCounts });
  ctx.onEvent?.({
    type: 'log',
    level: 'info',
    message: `GPS selected ${selected} of ${totalWeights} weights (${((100 * selected) / totalWeights).toFixed(3)} %), K = ${k} per neuron.`,
  });
  return { k, tau: SUPCON_TAU, matrices, blockCounts, selected, totalWeights };
}

/**
 * The saved selection must cover exactly the weight matrices of the graph being trained: a matrix the selection
 * lacks would stay frozen without anyone being told, and one the graph lacks has nowhere to go.
 */
function checkCoverage(g: Graph, state: GpsState): void {
  const inGraph = new Set(weightMatrices(g).map((m) => m.name));
  const selected = new Set(state.matrices.map((m) => m.name));
  const unselected = [...inGraph].filter((n) => !selected.has(n));
  const absent = [...selected].filter((n) => !inGraph.has(n));
  if (unselected.length || absent.length)
    throw new AttuneError(
      'gps-state-mismatch',
      `The GPS selection does not match this backbone: ${unselected.length ? `no selection for ${unselected.slice(0, 3).join(', ')}` : ''}${unselected.length && absent.length ? '; ' : ''}${absent.length ? `selected weights missing from the model: ${absent.slice(0, 3).join(', ')}` : ''}.`,
      'Train the run again with the backbone file it will be used with (the selection is saved per run in method-state.json).',
    );
}

/**
 * W = W0 with δ added at the selected entries: Reshape(ScatterND(W0 flat, I, W0[I] + δ)) in W's storage layout, entry
 * e = k·rows + r being neuron r's k-th selected weight. The forward and ∂x stay one dense product each, and the
 * autodiff computes ∂δ from the K selected inputs of every neuron, never the dense ∂L/∂W (autodiff/sparse-weight.ts;
 * the patch embedding's Conv takes the generic rules). A gather form of the forward too (y += δ ⊙ x[…, idx]) ran
 * 2.6× slower on onnxruntime CPU with ViT-Tiny (bench/results/train.md, Notes). The indices are K per neuron; the
 * form before, W0 + Σ_k δ_k ⊙ onehot_k, held a mask as large as the weight (ViT-Base's GPS peak: 8.8 → 7.7 GB).
 */
function maskedWeight(b: Builder, m: GpsMatrix, K: number): { weight: string; reads: Node } {
  const size = m.shape.reduce((a, c) => a * c, 1);
  const at = Array.from({ length: K * m.rows }, (_, e) => {
    const r = e % m.rows;
    return flatIndex(m, r, m.idx[r * K + Math.floor(e / m.rows)]);
  });
  const idx = b.constant(tensor('int64', [at.length, 1], at), 'gps_at');
  const flat = b.reshape(m.name, [size]);
  const reads = b.g.nodes[b.g.nodes.length - 1];
  // δ [rows, K] → k-major [K·rows]
  const d = b.reshape(b.transpose(gpsDelta(m.name), [1, 0]), [K * m.rows]);
  const updates = b.add(b.op('GatherND', [flat, idx]), d);
  return { weight: b.reshape(b.op('ScatterND', [flat, idx, updates]), m.shape), reads };
}

export const gps: Method = {
  name: 'gps',
  title: 'GPS (gradient-based parameter selection)',
  summary:
    'Picks the few most task-relevant weights of every neuron from contrastive gradients, then trains only those, the biases and the new head (under 1 % of the weights).',
  card: {
    paper:
      'From its paper (ViT-B/16, METHODS.md anchors): VTAB-1k per-task mean 73.1 % against 65.6 % for full fine-tuning in its own runs, FGVC 91.8 %.',
    schedule:
      'Its paper trains 100 epochs with 10 of warm-up (official scripts); its results were measured at that length, not at the few epochs a CPU allows.',
  },
  // bench:train: 0.82–0.96× full fine-tuning's step, plus the selection pass once (bench/results/train.md)
  relativeCost: 2.6,
  exports: [
    {
      file: PATCH_FILE,
      description:
        'sparse patch (selected weights, biases and head) that turns the original backbone into this model with `attune apply-patch`',
    },
  ],
  options: [
    { name: 'k', flag: '--gps-k', description: 'weights selected per neuron (K)', default: 1, kind: 'integer', min: 1 },
  ],
  // K entries per neuron of every weight matrix, all biases, the head (METHODS.md §GPS step 3)
  trainableParameters: (g, o) =>
    weightMatrices(g).reduce((n, m) => n + Math.min(m.cols, numberOption(gps.options, o, 'k')) * m.rows, 0) +
    sizeOfTensors(g, biasTensors(g)) +
    headParameters(g),
  // official train_scripts: `--opt adam --weight-decay 0`, no --clip-grad (timm default: no clipping), --smoothing 0.
  // They also set --drop-path per task (0 for most, 0.1 for some); Attune's backbones train GPS without drop-path.
  defaults: { lr: 1e-3, weightDecay: 0, epochs: 10, batch: 32, warmupEpochs: 1, labelSmoothing: 0, clipNorm: null },
  async prepare(ctx, saved) {
    const k = numberOption(gps.options, ctx.options, 'k');
    const state = (saved as GpsState | undefined) ?? (await select(ctx, k));
    const K = state.k;
    const wd = Number(ctx.options.weightDecay ?? gps.defaults.weightDecay);
    const deltas = new Map(state.matrices.map((m) => [gpsDelta(m.name), m]));
    let biases: string[] = [];
    return {
      program: {
        transform: (g, b) => {
          checkCoverage(g, state);
          for (const m of state.matrices) {
            g.initializers.set(gpsDelta(m.name), tensor('float32', [m.rows, K]));
            const { weight, reads } = maskedWeight(b, m, K);
            // every reader of W0 now reads the masked weight; the Reshape that flattens W0 for it keeps reading W0
            replaceUses(g, m.name, weight);
            reads.inputs[0] = m.name;
          }
        },
        trainable: (g) => {
          biases = biasTensors(g);
          return [
            ...[...deltas.keys()]
              .filter((d) => g.initializers.has(d))
              .map((name) => ({ name, weightDecay: 0, anchorAtZero: true })),
            ...biases.map((name) => ({ name, weightDecay: 0 })),
            { name: HEAD_WEIGHT, weightDecay: wd },
            { name: HEAD_BIAS, weightDecay: 0 },
          ];
        },
      },
      state,
      merge(backbone: Model, trained: Map<string, Tensor>): Model {
        const merged = mergeByName(backbone, trained);
        for (const [d, m] of deltas) {
          const delta = trained.get(d);
          const w0 = backbone.graph.initializers.get(m.name);
          if (!delta || !w0)
            throw new AttuneError(
              'gps-state-mismatch',
              `The GPS run has no trained update for ${m.name}, or the backbone has no such weight.`,
              'Export with the backbone the run was trained on; if it is the same file, train the run again.',
            );
          merged.graph.initializers.set(m.name, mergeGpsWeight(w0, m, K, delta));
        }
        return merged;
      },
      describe: () => ({
        trains: 'selected weights, biases and head',
        k: K,
        selectedWeights: state.selected,
        selectedPercent: Number(((100 * state.selected) / state.totalWeights).toFixed(4)),
        blockCounts: JSON.stringify(state.blockCounts),
      }),
      writeExtras: async (outDir, backbone, trained) => [
        await writeGpsPatch(outDir, backbone, trained, state, ctx.backbone.features),
      ],
    };
  },
};
