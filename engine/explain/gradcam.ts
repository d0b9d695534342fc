/**
 * Grad-CAM heatmaps computed on the exported model itself, through Attune's own reverse-mode autodiff:
 * the class score's gradient w.r.t. the last spatial feature map (CNNs: the last [1, K, h, w] tensor with
 * h, w > 1; ViTs: the patch tokens entering the last block's attention, as pytorch-grad-cam's
 * `blocks[-1].norm1`), channel weights = mean gradient, map = ReLU(Σ_k α_k A_k) (Selvaraju et al., 2017).
 * The score is the head's logit when the graph has it (Attune exports), else log p or the raw output.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { AttuneError } from '../errors';
import { differentiate } from '../autodiff/differentiate';
import { LOGITS, OUTPUT_NAME } from '../backbone/prepare';
import { Builder } from '../ir/builder';
import { foldConstants, type ShapeMap } from '../ir/fold';
import { int, producers, type Graph, type Model } from '../ir/graph';
import { tensor } from '../ir/tensor';
import { decodeModel } from '../onnx/io';
import { createSession } from '../runtime/session';
import { classifierInfo } from '../predict/predict';
import { inputChannels, type Preprocessing } from '../preprocessing';

const CLASS_INPUT = 'attune_explain_class';
const FEATURE_OUT = 'attune_explain_features';
const GRAD_OUT = 'attune_explain_grad';

export interface ExplainTarget {
  tensor: string;
  kind: 'cnn' | 'vit';
  /** heatmap grid */
  h: number;
  w: number;
}

/** The feature map Grad-CAM reads: the last spatial CNN map, or the last block's normed patch tokens for a ViT. */
function findExplainTarget(g: Graph, shapes: ShapeMap): ExplainTarget {
  const prod = producers(g);
  // ViT: the last attention Softmax over T × T; the LayerNormalization feeding its block (norm1)
  // (exports differ in rank: [1, heads, T, T] or [heads, T, T])
  const square = (d: number[] | undefined) => !!d && d.length >= 3 && d.at(-1) === d.at(-2) && d.at(-1)! > 1;
  const attn = [...g.nodes].reverse().find((n) => n.op === 'Softmax' && square(shapes.get(n.outputs[0])?.dims));
  if (attn) {
    const T = shapes.get(attn.outputs[0])!.dims.at(-1)!;
    const side = Math.round(Math.sqrt(T - 1));
    if (side * side === T - 1) {
      const idx = g.nodes.indexOf(attn);
      const norm = g.nodes
        .slice(0, idx)
        .reverse()
        .find((n) => n.op === 'LayerNormalization' && shapes.get(n.outputs[0])?.dims[1] === T);
      if (norm) return { tensor: norm.outputs[0], kind: 'vit', h: side, w: side };
    }
  }
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    for (const o of g.nodes[i].outputs) {
      const d = shapes.get(o)?.dims;
      if (d?.length === 4 && d[2] > 1 && d[3] > 1 && prod.get(o)) return { tensor: o, kind: 'cnn', h: d[2], w: d[3] };
    }
  }
  throw new AttuneError(
    'explain-unsupported',
    'This model has no spatial feature map or patch tokens to explain with Grad-CAM.',
    'Explanations need a CNN or a ViT classifier.',
  );
}

export interface Explainer {
  target: ExplainTarget;
  preprocessing: Preprocessing;
  labels: string[] | undefined;
  numClasses: number;
  /** probabilities and the Grad-CAM map (row-major h × w, ≥ 0, max 1 unless all zero) for class `cls` (default: top) */
  explain(x: Float32Array, cls?: number): Promise<{ probs: Float32Array; cls: number; heatmap: Float32Array }>;
  release(): Promise<void>;
}

/** Builds the explanation graph once for a model (file or in memory, batch 1); `explain` runs it per image. */
export async function createExplainer(source: string | Model): Promise<Explainer> {
  const modelPath = typeof source === 'string' ? source : 'model.onnx';
  const original =
    typeof source === 'string'
      ? decodeModel(
          await readFile(source).catch(() => {
            throw new AttuneError('model-missing', `No model file at ${source}.`, 'Check the path to model.onnx.');
          }),
          dirname(source),
        )
      : source;
  const inp = original.graph.inputs[0];
  if (inp.dtype !== 'float32' || inp.shape.length !== 4)
    throw new AttuneError(
      'explain-unsupported',
      `${basename(modelPath)} takes ${inp.dtype} [${inp.shape.join(', ')}] input.`,
      'Explain model.onnx (the float32 [N, C, H, W] export), not model-image.onnx.',
    );
  const size = typeof inp.shape[3] === 'number' ? inp.shape[3] : 224;
  const info = classifierInfo(original.metadata, original, basename(modelPath), size);
  const S = info.preprocessing.size;
  const Cin = inputChannels(info.preprocessing);
  const { model, shapes } = await foldConstants(original, { [inp.name]: [1, Cin, S, S] });
  const g = model.graph;
  const out = g.outputs[0].name;
  const C = shapes.get(out)!.dims[1];
  const target = findExplainTarget(g, shapes);
  const b = builderFor(model);
  g.inputs.push({ name: CLASS_INPUT, dtype: 'float32', shape: [1, C] });
  shapes.set(CLASS_INPUT, { dtype: 'float32', dims: [1, C] });
  const scores = shapes.has(LOGITS) ? LOGITS : out === OUTPUT_NAME || info.outputsProbabilities ? b.log(out) : out;
  if (scores !== LOGITS && scores !== out) shapes.set(scores, { dtype: 'float32', dims: [1, C] });
  const picked = b.mul(scores, CLASS_INPUT);
  shapes.set(picked, { dtype: 'float32', dims: [1, C] });
  const score = b.op('ReduceSum', [picked], { keepdims: int(0) });
  shapes.set(score, { dtype: 'float32', dims: [] });
  const grad = differentiate(g, shapes, score, [target.tensor], { opset: model.opset, prefix: 'attune_explain' }).get(
    target.tensor,
  );
  if (!grad)
    throw new AttuneError(
      'explain-unsupported',
      'The class score does not depend on the explained feature map.',
      'This is a bug in Attune; please report it with the model.',
    );
  g.nodes.push({
    name: 'attune_explain_features_id',
    op: 'Identity',
    domain: '',
    inputs: [target.tensor],
    outputs: [FEATURE_OUT],
    attrs: {},
  });
  g.nodes.push({
    name: 'attune_explain_grad_id',
    op: 'Identity',
    domain: '',
    inputs: [grad],
    outputs: [GRAD_OUT],
    attrs: {},
  });
  const fdims = shapes.get(target.tensor)!.dims;
  g.outputs = [
    { name: out, dtype: 'float32', shape: [1, C] },
    { name: FEATURE_OUT, dtype: 'float32', shape: fdims },
    { name: GRAD_OUT, dtype: 'float32', shape: fdims },
  ];
  const session = await createSession(model, { provider: 'cpu' });
  const probsOf = (y: Float32Array) => (info.outputsProbabilities ? y : softmax(y));
  return {
    target,
    preprocessing: info.preprocessing,
    labels: info.labels,
    numClasses: C,
    async explain(x, cls) {
      const image = tensor('float32', [1, Cin, S, S], x);
      let onehot = new Float32Array(C);
      if (cls === undefined) {
        // the top class first: one run with any one-hot gives the probabilities
        onehot[0] = 1;
        const first = await session.run({ [inp.name]: image, [CLASS_INPUT]: tensor('float32', [1, C], onehot) }, [out]);
        const p = probsOf(first[out].data as Float32Array);
        cls = p.reduce((best, v, i) => (v > p[best] ? i : best), 0);
        onehot = new Float32Array(C);
      }
      onehot[cls] = 1;
      const res = await session.run({ [inp.name]: image, [CLASS_INPUT]: tensor('float32', [1, C], onehot) });
      const probs = probsOf(res[out].data as Float32Array);
      const heatmap = gradCam(res[FEATURE_OUT].data as Float32Array, res[GRAD_OUT].data as Float32Array, fdims, target);
      return { probs, cls, heatmap };
    },
    release: () => session.release(),
  };
}

function builderFor(model: Model): Builder {
  return new Builder(model.graph, 'attune_explain_fwd', 'float32', model.opset);
}

function softmax(y: Float32Array): Float32Array {
  const m = Math.max(...y);
  const e = y.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

/** ReLU(Σ_k α_k A_k) with α_k the mean gradient of channel k over positions, scaled to max 1. */
function gradCam(A: Float32Array, dA: Float32Array, dims: number[], target: ExplainTarget): Float32Array {
  const { h, w } = target;
  const P = h * w;
  const cam = new Float32Array(P);
  if (target.kind === 'cnn') {
    const K = dims[1];
    for (let k = 0; k < K; k++) {
      let alpha = 0;
      for (let p = 0; p < P; p++) alpha += dA[k * P + p];
      alpha /= P;
      for (let p = 0; p < P; p++) cam[p] += alpha * A[k * P + p];
    }
  } else {
    // tokens [1, T, D]; token 0 is the class token
    const D = dims[2];
    for (let d = 0; d < D; d++) {
      let alpha = 0;
      for (let p = 0; p < P; p++) alpha += dA[(p + 1) * D + d];
      alpha /= P;
      for (let p = 0; p < P; p++) cam[p] += alpha * A[(p + 1) * D + d];
    }
  }
  let max = 0;
  for (let p = 0; p < P; p++) max = Math.max(max, (cam[p] = Math.max(0, cam[p])));
  if (max > 0) for (let p = 0; p < P; p++) cam[p] /= max;
  return cam;
}

/** Bilinear upsampling of an h × w map to S × S (half-pixel centres), for overlays and pixel deletion. */
export function upsample(map: Float32Array, h: number, w: number, S: number): Float32Array {
  const out = new Float32Array(S * S);
  for (let y = 0; y < S; y++) {
    const fy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / S - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < S; x++) {
      const fx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / S - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const top = map[y0 * w + x0] * (1 - tx) + map[y0 * w + x1] * tx;
      const bottom = map[y1 * w + x0] * (1 - tx) + map[y1 * w + x1] * tx;
      out[y * S + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}
