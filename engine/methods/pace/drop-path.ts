/**
 * Drop-path (stochastic depth) for PACE training, as the official code trains it (MaxwellYaoNi/PACE Vision/train.py:
 * timm `create_model(..., drop_path_rate=0.1)`, so block l drops its residual branches with rate 0.1·l/(L−1);
 * pace/sharable_dropout.py: the two copies of a sample share one mask, and the mask is divided by its mean).
 * The ONNX backbones carry no drop-path nodes, so the training graph gets them here: every residual branch
 * (attention output, MLP output) is multiplied by a per-sample mask fed from the host before its residual Add.
 * Evaluation, export and the FP-distance diagnostic run without masks, as `model.eval()` does.
 */
import type { Builder } from '../../ir/builder';
import type { ShapeMap } from '../../ir/fold';
import { consumers, type Graph, type Node } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import type { ExtraInput } from '../../programs/compile';
import { deriveSeed, mulberry32 } from '../../util/random';
import type { LinearLayer } from '../layers';

/** timm's drop_path_rate in the official PACE script */
export const PACE_DROP_PATH_RATE = 0.1;

/** Drop rate per block: torch.linspace(0, rate, L) as timm assigns it. */
export const dropPathRates = (blocks: number, rate = PACE_DROP_PATH_RATE): number[] =>
  Array.from({ length: blocks }, (_, l) => (blocks > 1 ? (rate * l) / (blocks - 1) : 0));

export interface DropPathSpec {
  name: string;
  /** drop probability of this branch */
  rate: number;
  /** the mask's shape: 1 everywhere but the batch axis */
  shape: number[];
  rows: number;
  /** 2: the batch is [x; x] and both copies of a sample share its mask */
  copies: 1 | 2;
  /** PACE divides the mask by its mean (sharable_dropout.py); plain timm DropPath divides by the keep rate */
  byMean: boolean;
  branch: number;
}

/** The per-sample mask for one step, deterministic in (seed, epoch, step, branch). */
export function dropPathMask(s: DropPathSpec, at: { seed: number; epoch: number; step: number }): Tensor {
  const rng = mulberry32(deriveSeed(at.seed, 0xd709, at.epoch, at.step, s.branch));
  const keep = 1 - s.rate;
  const per = s.rows / s.copies;
  const m = Float32Array.from({ length: per }, () => (rng() < keep ? 1 / keep : 0));
  const data = new Float32Array(s.rows);
  for (let c = 0; c < s.copies; c++) data.set(m, c * per);
  if (s.byMean) {
    const mean = data.reduce((a, v) => a + v, 0) / data.length;
    for (let i = 0; i < data.length; i++) data[i] = data[i] / (mean + 1e-12);
  }
  return tensor('float32', s.shape, data);
}

/** Every value computed from the image input (the residual stream is; a bias tied through an Identity is not). */
function fromInput(g: Graph, readers: Map<string, Node[]>): Set<string> {
  const seen = new Set([g.inputs[0].name]);
  const queue = [g.inputs[0].name];
  while (queue.length) {
    for (const n of readers.get(queue.pop()!) ?? []) {
      for (const o of n.outputs) {
        if (o && !seen.has(o)) {
          seen.add(o);
          queue.push(o);
        }
      }
    }
  }
  return seen;
}

/**
 * Where a layer's output joins the residual stream: from `value` (the layer's output with its adapter) through
 * single-reader reshapes and constant scalings (layer scale) to an Add whose other operand comes from the image.
 * Returns the value entering that Add, or undefined when the layer does not end a residual branch (qkv, fc1).
 */
function branchEnd(g: Graph, readers: Map<string, Node[]>, dynamic: Set<string>, value: string): string | undefined {
  let v = value;
  for (let hops = 0; hops < 8; hops++) {
    const next = readers.get(v) ?? [];
    if (next.length !== 1) return undefined;
    const n = next[0];
    if (n.op === 'Add') {
      const other = n.inputs.find((i) => i !== v);
      return other && dynamic.has(other) ? v : undefined;
    }
    const layerScale =
      n.op === 'Mul' && n.inputs.length === 2 && g.initializers.has(n.inputs[0] === v ? n.inputs[1] : n.inputs[0]);
    const reshape = (n.op === 'Reshape' || n.op === 'Transpose' || n.op === 'Identity') && n.inputs[0] === v;
    if (!layerScale && !reshape) return undefined;
    v = n.outputs[0];
  }
  return undefined;
}

export interface DropPathPlan {
  inputs: ExtraInput[];
  /** why drop-path could not be placed (the run trains without it) */
  skipped?: string;
}

/**
 * Multiplies every residual branch of blocks with a non-zero rate by its mask. `adapted` maps each adapted layer
 * to the value that now carries its output (with the adapter); `rows` is the forward's batch.
 */
export function insertDropPath(
  g: Graph,
  b: Builder,
  shapes: ShapeMap,
  adapted: { layer: LinearLayer; value: string }[],
  opts: { rows: number; copies: 1 | 2; byMean: boolean; blocks: number },
): DropPathPlan {
  const rates = dropPathRates(opts.blocks);
  const readers = consumers(g);
  const dynamic = fromInput(g, readers);
  const ends = adapted.flatMap(({ layer, value }) => {
    const v = branchEnd(g, readers, dynamic, value);
    return v ? [{ layer, value: v, dims: (v === value ? shapes.get(layer.output) : shapes.get(v))?.dims }] : [];
  });
  const perBlock = new Map<number, number>();
  for (const e of ends) perBlock.set(e.layer.block, (perBlock.get(e.layer.block) ?? 0) + 1);
  const odd = [...Array(opts.blocks).keys()].find((l) => perBlock.get(l) !== 2);
  if (odd !== undefined)
    return {
      inputs: [],
      skipped: `block ${odd} has ${perBlock.get(odd) ?? 0} residual branches ending in an adapted layer, not 2`,
    };
  const plans: { value: string; spec: DropPathSpec }[] = [];
  for (const [i, e] of ends.entries()) {
    const rate = rates[e.layer.block];
    if (rate <= 0) continue;
    const axis = e.dims ? e.dims.slice(0, -1).findIndex((d) => d === opts.rows) : -1;
    if (!e.dims || axis < 0) return { inputs: [], skipped: `no batch axis of ${opts.rows} rows in ${e.value}` };
    const shape = e.dims.map((d, k) => (k === axis ? opts.rows : 1));
    plans.push({
      value: e.value,
      spec: {
        name: `pace_drop_path_${i}`,
        rate,
        shape,
        rows: opts.rows,
        copies: opts.copies,
        byMean: opts.byMean,
        branch: i,
      },
    });
  }
  const inputs: ExtraInput[] = [];
  for (const { value, spec } of plans) {
    const masked = b.mul(value, spec.name);
    // every reader of the branch (its residual Add) now reads the masked branch; the Mul keeps reading the branch
    const mul = g.nodes[g.nodes.length - 1];
    for (const n of g.nodes) if (n !== mul) n.inputs = n.inputs.map((x) => (x === value ? masked : x));
    inputs.push({
      name: spec.name,
      dtype: 'float32',
      shape: spec.shape,
      neutral: () => tensor('float32', spec.shape, new Float32Array(spec.rows).fill(1)),
      fill: (at) => dropPathMask(spec, at),
    });
  }
  return { inputs };
}
