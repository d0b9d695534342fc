/**
 * PACE (METHODS.md §PACE; Ni et al., NeurIPS 2024; official code MaxwellYaoNi/PACE, Vision/).
 * Base adapter "LoRAmul + VPTadd" on every Linear of every block (qkv, proj, fc1, fc2; head and patch embedding excluded):
 *   Δh(x) = x·(W0 ⊙ (Wd·Wu))ᵀ + W0·p + b0 ⊙ δb,  p = Pd·Pu.
 * Init as Vision/pace/residual_adapters.py (LoRAmul_VPTadd_Linear): Wd [out, r], Pd [in, r], δb [out] zeros;
 * Wu [r, in] and Pu [r, 1] xavier_uniform, so Δh = 0 at step 0.
 * Training: h = h0 + z ⊙ Δh with z ~ N(1, σ_l²) of shape [batch, 1, out] (pace_ops.py, shape 'BC'), fed from the
 * host per step (deterministic in seed, epoch, step). Two passes with independent noise run as one pass over the
 * batch concatenated with itself; L = CE(f1, y) + λ·mean_b ‖f1 − f2‖² (pace_ops.PACE_MSELoss: sum over classes,
 * mean over the batch). PACE-fast (--pace-fast): one noisy pass, consistency against the logits the same sample got
 * in the previous epoch (pace_ops.compute_loss_pace_fast; skipped in the first epoch, as METHODS.md says).
 * Export: noise off, merged exactly: W = W0 ⊙ (1 + Wd·Wu), b = b0 ⊙ (1 + δb) + W0·p.
 * Linear layers without a bias get only the LoRAmul part (a VPT shift would need an extra Add on export).
 */
import { HEAD_BIAS, HEAD_WEIGHT, LOGITS, FEATURES } from '../../backbone/prepare';
import { Builder } from '../../ir/builder';
import { foldConstants, type ShapeMap } from '../../ir/fold';
import { cloneModel, int, producers, pruneDead, replaceUses, topoSort, type Graph, type Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { INV_WEIGHT, TARGETS, type ExtraInput } from '../../programs/compile';
import { createSession } from '../../runtime/session';
import { deriveSeed, mulberry32, normal } from '../../util/random';
import { blockLinears, setOwnedInput, type LinearLayer } from '../layers';
import { insertDropPath, PACE_DROP_PATH_RATE } from './drop-path';
import { booleanOption, headParameters, mergeByName, numberOption, type HeldOutBatch, type Method } from '../method';

export const paceNames = (w: string) => ({ wd: `${w}::pace_Wd`, wu: `${w}::pace_Wu`, pd: `${w}::pace_Pd`, pu: `${w}::pace_Pu`, db: `${w}::pace_db` });
export const PACE_CONSISTENCY = 'attune_pace_consistency';
/** the consistency term as a reported scalar (the epoch diagnostics show it as pace_term) */
export const PACE_TERM = 'attune_pace_term';
const PREV_LOGITS = 'pace_prev_logits';
const PREV_MASK = 'pace_prev_mask';
const LOGITS_ALL = 'pace_logits_all';

/**
 * σ per block (Vision/train.py): blocks are numbered 0..L−1 and the official code's last noisy layer is the head
 * (block L): sigmas = [0, linspace(0, σ, L+1)[-1:0:-1]] gives σ_0 = 0, σ_1 = σ, falling by σ/L per block to σ/L
 * at the head. Attune puts no adapter on the new head, so the blocks get σ_l = σ·(L + 1 − l)/L for l ≥ 1.
 */
export function paceSigmas(blocks: number, sigma: number): number[] {
  return Array.from({ length: blocks }, (_, l) => (l === 0 ? 0 : (sigma * (blocks + 1 - l)) / blocks));
}

/** xavier_uniform_ for a [fanOut, fanIn] torch parameter. */
function xavier(rows: number, cols: number, rng: () => number): Float32Array {
  const bound = Math.sqrt(6 / (rows + cols));
  return Float32Array.from({ length: rows * cols }, () => (rng() * 2 - 1) * bound);
}

export interface NoiseSpec {
  /** the ExtraInput name */
  name: string;
  layer: number;
  sigma: number;
  /** the noise tensor's shape: 1 everywhere but the batch axis and the last (out) axis */
  shape: number[];
  rows: number;
  out: number;
}

/** Fills z ~ N(1, σ²) for one step: the data is [rows][out] whatever the layout, since other axes are 1. */
export function noiseTensor(n: NoiseSpec, at: { seed: number; epoch: number; step: number }): Tensor {
  const rng = mulberry32(deriveSeed(at.seed, 0x9ace, at.epoch, at.step, n.layer));
  const data = new Float32Array(n.rows * n.out);
  for (let i = 0; i < data.length; i++) data[i] = 1 + n.sigma * normal(rng);
  return { dtype: 'float32', dims: [...n.shape], data };
}

/** Host merge: W = W0 ⊙ (1 + Wd·Wu), b = b0 ⊙ (1 + δb) + W0·p (float64, rounded once). */
export function mergePace(l: Pick<LinearLayer, 'layout' | 'inFeatures' | 'outFeatures'>, w0: Tensor, b0: Tensor | undefined, t: Record<'wd' | 'wu' | 'pd' | 'pu' | 'db', Tensor>): { w: Tensor; b?: Tensor } {
  const [inF, out] = [l.inFeatures, l.outFeatures];
  const r = t.wd.dims[1];
  const Wd = t.wd.data as Float32Array;
  const Wu = t.wu.data as Float32Array;
  const W0 = w0.data as Float32Array;
  const at = (o: number, i: number) => (l.layout === 'out-in' ? o * inF + i : i * out + o);
  const w = new Float32Array(W0.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inF; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += Wd[o * r + k] * Wu[k * inF + i];
      w[at(o, i)] = W0[at(o, i)] * (1 + s);
    }
  if (!b0) return { w: { dtype: 'float32', dims: [...w0.dims], data: w } };
  const p = new Float64Array(inF);
  const Pd = t.pd.data as Float32Array;
  const Pu = t.pu.data as Float32Array;
  for (let i = 0; i < inF; i++) for (let k = 0; k < r; k++) p[i] += Pd[i * r + k] * Pu[k];
  const B0 = b0.data as Float32Array;
  const db = t.db.data as Float32Array;
  const b = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inF; i++) s += W0[at(o, i)] * p[i];
    b[o] = B0[o] * (1 + db[o]) + s;
  }
  return { w: { dtype: 'float32', dims: [...w0.dims], data: w }, b: { dtype: 'float32', dims: [...b0.dims], data: b } };
}

/** The node that adds a layer's bias: the Gemm itself, or the Add producing its output. */
function biasReader(g: Graph, l: LinearLayer): string {
  return l.node.op === 'Gemm' ? l.node.name : producers(g).get(l.output)!.name;
}

/** Δh for one layer, as graph ops in the layer's own layout. */
function adapterOutput(b: Builder, l: LinearLayer): string {
  const n = paceNames(l.weight);
  const x = l.node.inputs[0];
  const P = b.matmul(n.wd, n.wu); // [out, in]
  let lin: string;
  if (l.layout === 'out-in') lin = b.op('Gemm', [x, b.mul(l.weight, P)], { transB: int(1) });
  else lin = b.matmul(x, b.mul(l.weight, b.transpose(P, [1, 0])));
  if (!l.bias) return lin;
  const p = b.matmul(n.pd, n.pu); // [in, 1]
  const w0p = l.layout === 'out-in' ? b.reshape(b.matmul(l.weight, p), [l.outFeatures]) : b.reshape(b.matmul(b.reshape(p, [1, l.inFeatures]), l.weight), [l.outFeatures]);
  return b.add(lin, b.add(w0p, b.mul(l.bias, n.db)));
}

/** Where the batch sits in a layer's output, so a [rows, out] noise draw broadcasts per sample and channel. */
function noiseLayout(g: Graph, shapes: ShapeMap, l: LinearLayer, rows: number): { shape: number[]; view?: number[] } {
  const ys = shapes.get(l.output)?.dims;
  if (!ys) throw new Error(`PACE: no shape for ${l.output}`);
  const out = ys[ys.length - 1];
  const axis = ys.slice(0, -1).findIndex((d) => d === rows);
  if (axis >= 0) return { shape: ys.map((_, i) => (i === axis ? rows : i === ys.length - 1 ? out : 1)) };
  // tokens and batch flattened into one axis (torchvision's attention output Gemm reads [T, B·heads, d] reshaped
  // to [T·B, D]): the leading axis of the reshaped tensor says whether rows are token-major or sample-major
  const src = producers(g).get(l.node.inputs[0]);
  const s = src && (src.op === 'Reshape' || src.op === 'Flatten') ? shapes.get(src.inputs[0])?.dims : undefined;
  if (ys.length === 2 && s && ys[0] % rows === 0) {
    const per = ys[0] / rows;
    if (s[0] === per) return { shape: [1, rows, out], view: [per, rows, out] };
    if (s[0] === rows) return { shape: [rows, 1, out], view: [rows, per, out] };
  }
  throw new Error(`PACE cannot tell where the batch is in ${l.output} [${ys}]`);
}

export const pace: Method = {
  name: 'pace',
  title: 'PACE (adapters + consistency regularisation)',
  summary: 'Adds small multiplicative adapters to every attention and MLP layer and trains them on two noisy copies of each batch with a consistency penalty; merged into the weights on export.',
  card: {
    paper: 'From its paper (ViT-B/16, METHODS.md anchors): VTAB-1k mean 79.0 % against 76.4 % for its base adapter and 68.9 % for full fine-tuning.',
    schedule: 'Its paper trains 300 epochs with 10 of warm-up (Vision/train.py); its results were measured at that length, not at the few epochs a CPU allows.',
  },
  // two passes per batch plus the adapters (methods benchmark: about 2.8× full fine-tuning's seconds per epoch)
  relativeCost: 8.5,
  // two passes per batch: the default 64 means 128 rows through every layer (about 16 GB with ViT-Tiny at 224 on CPU)
  cpuBatch: 16,
  options: [
    { name: 'rank', flag: '--rank', description: 'adapter rank r', default: 10, kind: 'integer', min: 1 },
    { name: 'sigma', flag: '--pace-sigma', description: 'noise σ (1.5 for small sets, 1.2 for large)', default: 1.5, kind: 'number', min: 0 },
    { name: 'lambda', flag: '--pace-lambda', description: 'consistency weight λ', default: 1, kind: 'number', min: 0 },
    { name: 'fast', flag: '--pace-fast', description: 'PACE-fast: one pass, consistency with last epoch\'s logits', default: false, kind: 'boolean' },
  ],
  // METHODS.md and Vision/train.py: AdamW lr 1e-3, weight decay 1e-4, batch 64, cosine with warm-up, no gradient clipping
  // per adapted layer: Wd [out, r] and Wu [r, in]; with a bias also Pd [in, r], Pu [r, 1], δb [out]
  trainableParameters: (g, o) => {
    const r = numberOption(pace.options, o, 'rank');
    return blockLinears(g).reduce((n, l) => n + r * (l.outFeatures + l.inFeatures) + (l.bias ? r * l.inFeatures + r + l.outFeatures : 0), 0) + headParameters(g);
  },
  defaults: { lr: 1e-3, weightDecay: 1e-4, epochs: 10, batch: 64, warmupEpochs: 1, labelSmoothing: 0, clipNorm: null },
  async prepare(ctx) {
    const r = numberOption(pace.options, ctx.options, 'rank');
    const sigma = numberOption(pace.options, ctx.options, 'sigma');
    const lambda = numberOption(pace.options, ctx.options, 'lambda');
    const fast = booleanOption(pace.options, ctx.options, 'fast');
    const wd = Number(ctx.options.weightDecay ?? pace.defaults.weightDecay);
    const C = ctx.backbone.numClasses;
    const layers = blockLinears(ctx.backbone.model.graph);
    if (!layers.length) throw new Error('PACE found no linear layers inside transformer blocks in this backbone');
    const L = Math.max(...layers.map((l) => l.block)) + 1;
    const sigmas = paceSigmas(L, sigma);
    const init = new Map<string, Tensor>();
    layers.forEach((l, i) => {
      const n = paceNames(l.weight);
      const rng = mulberry32(deriveSeed(ctx.seed, 0x9ace, 1, i));
      init.set(n.wd, tensor('float32', [l.outFeatures, r]));
      init.set(n.wu, tensor('float32', [r, l.inFeatures], xavier(r, l.inFeatures, rng)));
      if (l.bias) {
        init.set(n.pd, tensor('float32', [l.inFeatures, r]));
        init.set(n.pu, tensor('float32', [r, 1], xavier(r, 1, rng)));
        init.set(n.db, tensor('float32', [l.outFeatures]));
      }
    });
    const weights = new Set(layers.map((l) => l.weight));
    const extraInputs: ExtraInput[] = [];
    const noise: NoiseSpec[] = [];
    const history = new Map<string, Float32Array>(); // PACE-fast: last logits per training file

    /** Inserts the adapters; `rows` = batch rows of the forward, `withNoise` = training. Returns each layer's new output. */
    const adapt = (g: Graph, b: Builder, shapes: ShapeMap, rows: number, withNoise: boolean) => {
      for (const [k, t] of init) g.initializers.set(k, t);
      const adapted: { layer: LinearLayer; value: string }[] = [];
      blockLinears(g).forEach((l, i) => {
        if (!weights.has(l.weight)) return;
        // a bias the backbone ties to other layers is not adapted if prepare did not see it as this layer's own
        let dh = adapterOutput(b, init.has(paceNames(l.weight).pd) ? l : { ...l, bias: undefined });
        const s = sigmas[l.block] ?? 0;
        if (withNoise && s > 0) {
          const lay = noiseLayout(g, shapes, l, rows);
          const spec: NoiseSpec = { name: `pace_noise_${i}`, layer: i, sigma: s, shape: lay.shape, rows, out: l.outFeatures };
          noise.push(spec);
          extraInputs.push({ name: spec.name, dtype: 'float32', shape: spec.shape, neutral: () => tensor('float32', spec.shape, new Float32Array(rows * spec.out).fill(1)), fill: (at) => noiseTensor(spec, at) });
          const ys = shapes.get(l.output)!.dims;
          dh = lay.view ? b.reshape(b.mul(b.reshape(dh, lay.view), spec.name), ys) : b.mul(dh, spec.name);
        }
        const y = b.add(l.output, dh);
        const adder = g.nodes[g.nodes.length - 1];
        replaceUses(g, l.output, y);
        adder.inputs[0] = l.output;
        adapted.push({ layer: l, value: y });
      });
      return adapted;
    };

    const B = ctx.batch;
    let dropPath: number | 'off' = PACE_DROP_PATH_RATE;
    let warned = false;
    // with λ = 0 the consistency term vanishes and the second pass only costs: train the noisy adapter on one pass
    const twoPass = !fast && lambda > 0;
    const transform = (g: Graph, b: Builder, shapes: ShapeMap) => {
      extraInputs.length = 0;
      noise.length = 0;
      const rows = twoPass ? 2 * B : B;
      if (twoPass) {
        // one pass over [x; x]: the image input stays [B, …], the folded forward is [2B, …]
        const inp = g.inputs[0];
        const doubled = 'pace_x2';
        replaceUses(g, inp.name, doubled);
        g.nodes.unshift({ name: 'pace_concat', op: 'Concat', domain: '', inputs: [inp.name, inp.name], outputs: [doubled], attrs: { axis: int(0) } });
        inp.shape = [B, ...inp.shape.slice(1)];
      }
      const adapted = adapt(g, b, shapes, rows, true);
      // drop-path as the official training runs it: masks shared by the two copies, normalised by their mean for PACE
      const dp = insertDropPath(g, b, shapes, adapted, { rows, copies: twoPass ? 2 : 1, byMean: lambda > 0, blocks: L });
      extraInputs.push(...dp.inputs);
      dropPath = dp.skipped ? 'off' : PACE_DROP_PATH_RATE;
      if (dp.skipped && !warned) {
        warned = true;
        ctx.onEvent?.({ type: 'log', level: 'warn', message: `PACE trains without drop-path on this backbone (${dp.skipped}); the official code uses drop-path 0.1.` });
      }
      if (twoPass) {
        const head = producers(g).get(LOGITS)!;
        head.outputs = head.outputs.map((o) => (o === LOGITS ? LOGITS_ALL : o));
        g.nodes.push({ name: 'pace_first_copy', op: 'Slice', domain: '', inputs: [LOGITS_ALL, b.ints([0]), b.ints([B]), b.ints([0])], outputs: [LOGITS], attrs: {} });
      } else if (fast && lambda > 0) {
        extraInputs.push(
          { name: PREV_LOGITS, dtype: 'float32', shape: [B, C], neutral: () => tensor('float32', [B, C]), fill: (at) => prevLogits(at.batchFiles).logits },
          { name: PREV_MASK, dtype: 'float32', shape: [B, 1], neutral: () => tensor('float32', [B, 1]), fill: (at) => prevLogits(at.batchFiles).mask },
        );
      }
      topoSort(g);
    };
    const prevLogits = (files: string[]) => {
      const logits = tensor('float32', [B, C]);
      const mask = tensor('float32', [B, 1]);
      files.forEach((f, i) => {
        const h = history.get(f);
        if (!h || i >= B) return;
        (logits.data as Float32Array).set(h, i * C);
        (mask.data as Float32Array)[i] = 1;
      });
      return { logits, mask };
    };

    /** λ · mean_b ‖f1 − f2‖² over the batch's real rows (TARGETS rows sum to 1 for real rows, 0 for padding). */
    const extraLoss = (b: Builder) => {
      const f2 = fast ? PREV_LOGITS : b.op('Slice', [LOGITS_ALL, b.ints([B]), b.ints([2 * B]), b.ints([0])]);
      const d = b.sub(LOGITS, f2);
      let rowsMask = b.reduceSum(TARGETS, [1], true); // [B, 1]
      if (fast) rowsMask = b.mul(rowsMask, PREV_MASK);
      const total = b.op('ReduceSum', [b.mul(b.mul(d, d), rowsMask)], { keepdims: int(0) });
      const term = b.mul(b.mul(total, INV_WEIGHT), b.scalar(lambda));
      b.g.nodes.push({ name: 'pace_consistency_id', op: 'Identity', domain: '', inputs: [term], outputs: [PACE_CONSISTENCY], attrs: {} });
      return [PACE_CONSISTENCY];
    };

    const trainableNames = [...init.keys()];
    let fp: Awaited<ReturnType<typeof featureSession>> | undefined;

    return {
      program: {
        transform,
        evalTransform: (g, b, shapes) => adapt(g, b, shapes, 0, false),
        trainable: () => [...trainableNames.map((name) => ({ name, weightDecay: wd, anchorAtZero: true })), { name: HEAD_WEIGHT, weightDecay: wd }, { name: HEAD_BIAS, weightDecay: 0 }],
        ...(lambda > 0 ? { extraLoss, reportScalars: { [PACE_TERM]: PACE_CONSISTENCY } } : {}),
        extraInputs,
        trainBatchMultiplier: twoPass ? 2 : 1,
      },
      state: { rank: r, sigma, lambda, fast, blocks: L, sigmas, adaptedLayers: layers.length },
      merge(backbone: Model, trained: Map<string, Tensor>): Model {
        const merged = mergeByName(backbone, trained);
        const init0 = backbone.graph.initializers;
        for (const l of layers) {
          const n = paceNames(l.weight);
          const get = (k: string) => trained.get(k) ?? init.get(k) ?? tensor('float32', [0]);
          const m = mergePace(l, init0.get(l.weight)!, l.bias ? init0.get(l.bias) : undefined, { wd: get(n.wd), wu: get(n.wu), pd: get(n.pd), pu: get(n.pu), db: get(n.db) });
          setOwnedInput(merged, l.node.name, l.weight, m.w);
          if (l.bias && m.b) setOwnedInput(merged, biasReader(backbone.graph, l), l.bias, m.b);
        }
        return merged;
      },
      describe: () => ({ trains: 'PACE adapters (LoRAmul + VPTadd) and head', rank: r, sigma, lambda, fast, adaptedLayers: layers.length, dropPath }),
      afterStep: fast
        ? (s) => {
            for (let i = 0; i < s.count; i++) history.set(s.batchFiles[i], s.logits.slice(i * C, (i + 1) * C));
          }
        : undefined,
      // FP-distance (METHODS.md §PACE diagnostics): mean ‖f_ft(x) − f_pre(x)‖ of backbone features on held-out images
      async epochDiagnostics(params: Map<string, Tensor>, heldOut: AsyncIterable<HeldOutBatch>) {
        fp ??= await featureSession(ctx.backbone.model, (g, b, shapes) => adapt(g, b, shapes, 0, false), trainableNames, B);
        let sum = 0;
        let n = 0;
        for await (const bt of heldOut) {
          const x = new Float32Array(fp.batch * (bt.x.length / Math.max(1, bt.count)));
          x.set(bt.x.subarray(0, x.length));
          const feeds = (vals: (k: string) => Tensor) => {
            const f: Record<string, Tensor> = { [fp!.input]: tensor('float32', [fp!.batch, ...fp!.inputDims], x) };
            for (const k of fp!.trainable) f[k] = vals(k);
            return f;
          };
          const ft = (await fp.session.run(feeds((k) => params.get(k) ?? init.get(k)!), [FEATURES]))[FEATURES].data as Float32Array;
          const key = bt.files.join('\n');
          let pre = fp.pre.get(key);
          if (!pre) {
            pre = ((await fp.session.run(feeds((k) => init.get(k)!), [FEATURES]))[FEATURES].data as Float32Array).slice();
            fp.pre.set(key, pre);
          }
          for (let i = 0; i < bt.count; i++) {
            let s = 0;
            for (let j = 0; j < fp.dim; j++) s += (ft[i * fp.dim + j] - pre[i * fp.dim + j]) ** 2;
            sum += Math.sqrt(s);
            n++;
          }
        }
        return { fp_distance: n ? sum / n : 0 };
      },
    };
  },
};

/** Backbone features with the adapters (noise off) and the adapter tensors as inputs, at a fixed batch. */
async function featureSession(prepared: Model, adapt: (g: Graph, b: Builder, s: ShapeMap) => void, trainable: string[], batch: number) {
  const m = cloneModel(prepared);
  const inp = m.graph.inputs[0];
  const dims = [batch, ...inp.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
  const { model, shapes } = await foldConstants(m, { [inp.name]: dims });
  const g = model.graph;
  adapt(g, new Builder(g, 'pace_fp', 'float32', model.opset), shapes);
  for (const k of trainable) {
    const t = g.initializers.get(k)!;
    g.initializers.delete(k);
    g.inputs.push({ name: k, dtype: 'float32', shape: t.dims });
  }
  const dim = shapes.get(FEATURES)!.dims[1];
  g.outputs = [{ name: FEATURES, dtype: 'float32', shape: [batch, dim] }];
  topoSort(g);
  pruneDead(g);
  const session = await createSession(model, { provider: 'cpu' });
  return { session, pre: new Map<string, Float32Array>(), input: inp.name, inputDims: dims.slice(1), batch, dim, trainable: trainable.filter((k) => g.inputs.some((i) => i.name === k)) };
}
