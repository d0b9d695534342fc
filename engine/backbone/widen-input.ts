/**
 * Widens a backbone's first convolution (ViT patch embedding or CNN stem) from 3 to N input channels, so all
 * bands of a multispectral image go in ('--bands all'). The Conv that reads the image is found from the graph:
 * the graph input, possibly through per-channel normalisation (Sub/Div/Mul/Add with constants, Cast, Identity);
 * Shape/Size readers only look at the dims and need no change.
 *
 * Initialisation. timm's adapt_input_conv (timm/models/_manipulate.py) repeats the RGB filters cyclically,
 * W'[:, c] = W[:, c mod 3] · 3/N, so N-channel input of the same magnitude gives activations of the original
 * magnitude. Attune's rule ('rgb-mean', the wording) keeps timm's 3/N scaling but puts the RGB filters on
 * the bands that are red, green and blue (Sentinel-2: B04, B03, B02; by default bands 1, 2, 3 as in timm) and gives
 * every other band the mean of the three RGB filters:
 *   W'[:, rgb_k] = W[:, k] · 3/N (k = R, G, B),   W'[:, c] = mean_k W[:, k] · 3/N otherwise.
 * Why not timm's cyclic copy: band c of a multispectral image has no relation to RGB channel c mod 3, while the
 * mean filter is the network's response to brightness, the one thing every band shares. Exact consequences,
 * asserted in widen-input.test.ts (bias b unchanged):
 *   - N = 3: the weight is unchanged, the model computes exactly what it did;
 *   - the same grey image g in every channel: conv' = Σ_c W'_c ∗ g + b = W̄·3 ∗ g + b = conv(g, g, g), any N;
 *   - RGB on the rgb bands, zeros elsewhere: conv' = (3/N)·(W ∗ x) + b, i.e. the original with its RGB filters
 *     scaled by 3/N (timm's rule gives the same here when the RGB bands are 1, 2, 3).
 * timm's rule is available as rule 'timm-repeat' for comparison.
 *
 * Training: the widened weight is a trained tensor in every method except the linear probe; a frozen widened
 * weight would feed the new bands through filters that never saw them. Its name is recorded in the model's
 * metadata ('attune.input_widened', see widenedInputOf) so the methods layer can add it to their trainable tensors.
 */
import { AttuneError } from '../errors';
import { foldConstants } from '../ir/fold';
import { attrInt, cloneModel, consumers, type Graph, type Model, type Node } from '../ir/graph';
import { isFloat, type Tensor } from '../ir/tensor';
import type { LoadedBackbone } from './load';

export type WidenRule = 'rgb-mean' | 'timm-repeat';

export interface WidenedInput {
  /** the Conv node that reads the image */
  conv: string;
  /** its weight initializer, now [O, N, kh, kw] (same name as before) */
  weight: string;
  channels: number;
  /** 1-based channels that received the R, G, B filters */
  rgbBands: [number, number, number];
  rule: WidenRule;
  /** per-channel normalisation constants before the Conv that were widened too */
  normalisation: string[];
}

const WIDENED_METADATA = 'attune.input_widened';

export interface WidenOptions {
  /** 1-based channels holding red, green, blue (Sentinel-2: [4, 3, 2]); default [1, 2, 3] */
  rgbBands?: [number, number, number];
  rule?: WidenRule;
}

const PASS_THROUGH = new Set(['Cast', 'Identity']);
const ELEMENTWISE = new Set(['Sub', 'Div', 'Mul', 'Add']);
const SHAPE_ONLY = new Set(['Shape', 'Size']);

const cannot = (why: string) =>
  new AttuneError(
    'widen-input',
    `Cannot feed all bands to this model: ${why}.`,
    "Map three bands onto the model's RGB channels instead (the Data screen's band choice; attune: --bands 4,3,2 for Sentinel-2 true colour), or choose a ViT or CNN backbone whose first layer is a convolution.",
  );

interface InputPath {
  conv: Node;
  /** constants of normalisation nodes on the way, with the axis that holds channels */
  constants: { name: string; axis: number }[];
}

/** Follows the image input to the Conv that consumes it. */
function findInputConv(g: Graph): InputPath {
  const input = g.inputs[0]?.name;
  if (!input) throw cannot('it has no input');
  const cons = consumers(g);
  const constants: InputPath['constants'] = [];
  let t = input;
  for (let hops = 0; hops < 16; hops++) {
    const next = (cons.get(t) ?? []).filter((n) => !SHAPE_ONLY.has(n.op));
    if (next.length !== 1)
      throw cannot(
        `its input "${input}" feeds ${next.length} layers (${next.map((n) => n.op).join(', ') || 'none'}), not one convolution`,
      );
    const n = next[0];
    if (n.op === 'Conv' && n.inputs[0] === t) return { conv: n, constants };
    if (PASS_THROUGH.has(n.op)) {
      t = n.outputs[0];
      continue;
    }
    if (ELEMENTWISE.has(n.op)) {
      const other = n.inputs.find((i) => i !== t);
      const c = other ? g.initializers.get(other) : undefined;
      if (!other || !c) throw cannot(`"${n.name}" (${n.op}) combines the image with a computed tensor`);
      // broadcast against [batch, C, H, W]: the channel axis is third from the right
      const axis = c.dims.length - 3;
      const size = c.data.length;
      if (size !== 1 && !(axis >= 0 && c.dims[axis] === 3 && size === 3))
        throw cannot(`"${n.name}" (${n.op}) uses a constant of shape [${c.dims}]`);
      if (size === 3) constants.push({ name: other, axis });
      t = n.outputs[0];
      continue;
    }
    throw cannot(`the image goes into ${n.op} ("${n.name}") before any convolution`);
  }
  throw cannot('no convolution within the first 16 layers');
}

/** The widened channel values from the three RGB ones: rgb bands get theirs, the rest the mean (scaled). */
function widenValues(
  rgb: [number, number, number],
  channels: number,
  opts: Required<WidenOptions>,
  scale: number,
): number[] {
  const mean = (rgb[0] + rgb[1] + rgb[2]) / 3;
  const out: number[] = [];
  for (let c = 0; c < channels; c++) {
    if (opts.rule === 'timm-repeat') out.push(rgb[c % 3] * scale);
    else {
      const k = opts.rgbBands.indexOf(c + 1);
      out.push((k >= 0 ? rgb[k] : mean) * scale);
    }
  }
  return out;
}

function widenWeight(w: Tensor, channels: number, opts: Required<WidenOptions>): Tensor {
  const [o, i, kh, kw] = w.dims;
  if (i !== 3) throw cannot(`its first convolution takes ${i} channels, not 3`);
  const k = kh * kw;
  const src = w.data as Float32Array | Float64Array;
  const data = w.dtype === 'float64' ? new Float64Array(o * channels * k) : new Float32Array(o * channels * k);
  const scale = 3 / channels;
  for (let oc = 0; oc < o; oc++)
    for (let p = 0; p < k; p++) {
      const rgb: [number, number, number] = [src[oc * 3 * k + p], src[(oc * 3 + 1) * k + p], src[(oc * 3 + 2) * k + p]];
      widenValues(rgb, channels, opts, scale).forEach((v, c) => (data[(oc * channels + c) * k + p] = v));
    }
  return { dtype: w.dtype, dims: [o, channels, kh, kw], data };
}

/** A per-channel constant [.., 3, 1, 1] → [.., N, 1, 1]: rgb bands keep theirs, others the mean (never scaled). */
function widenConstant(c: Tensor, axis: number, channels: number, opts: Required<WidenOptions>): Tensor {
  const src = c.data as Float32Array | Float64Array;
  const vals = widenValues([src[0], src[1], src[2]], channels, opts, 1);
  const dims = [...c.dims];
  dims[axis] = channels;
  const data = c.dtype === 'float64' ? Float64Array.from(vals) : Float32Array.from(vals);
  return { dtype: c.dtype, dims, data };
}

/**
 * A copy of `model` taking [batch, N, H, W]: the first Conv's weight widened by the rule above, per-channel
 * normalisation constants before it widened, the input's declared shape updated, and the facts recorded in
 * model.metadata[WIDENED_METADATA]. The model may be a raw backbone or a prepared one (with head).
 */
export function widenInput(
  model: Model,
  channels: number,
  options: WidenOptions = {},
): { model: Model; widened: WidenedInput } {
  const opts: Required<WidenOptions> = { rgbBands: options.rgbBands ?? [1, 2, 3], rule: options.rule ?? 'rgb-mean' };
  if (!Number.isInteger(channels) || channels < 1) throw cannot(`${channels} is not a channel count`);
  if (channels < 3) throw cannot(`it needs at least 3 bands to carry its RGB filters, these images have ${channels}`);
  const bad = opts.rgbBands.find((b) => !Number.isInteger(b) || b < 1 || b > channels);
  if (bad !== undefined || new Set(opts.rgbBands).size !== 3)
    throw cannot(`the RGB bands ${opts.rgbBands.join(',')} are not three different bands of 1–${channels}`);
  if (model.metadata[WIDENED_METADATA]) throw cannot('its input is already widened');
  const m = cloneModel(model);
  const g = m.graph;
  const path = findInputConv(g);
  const weightName = path.conv.inputs[1];
  const w = g.initializers.get(weightName);
  if (!w || w.dims.length !== 4 || !isFloat(w.dtype) || w.dtype === 'float16')
    throw cannot(`its first convolution's weight "${weightName}" is not a float32 constant [out, 3, kh, kw]`);
  if (attrInt(path.conv, 'group', 1) !== 1) throw cannot('its first convolution is grouped');
  g.initializers.set(weightName, widenWeight(w, channels, opts));
  for (const c of path.constants)
    g.initializers.set(c.name, widenConstant(g.initializers.get(c.name)!, c.axis, channels, opts));
  const inp = g.inputs[0];
  inp.shape = [inp.shape[0], channels, ...inp.shape.slice(2)];
  const widened: WidenedInput = {
    conv: path.conv.name,
    weight: weightName,
    channels,
    rgbBands: opts.rgbBands,
    rule: opts.rule,
    normalisation: path.constants.map((c) => c.name),
  };
  m.metadata[WIDENED_METADATA] = JSON.stringify(widened);
  return { model: m, widened };
}

/** What widenInput recorded on this model (it travels through attachHead, training and export), if anything. */
export function widenedInputOf(model: Model): WidenedInput | undefined {
  const s = model.metadata[WIDENED_METADATA];
  return s ? (JSON.parse(s) as WidenedInput) : undefined;
}

/** A loaded backbone widened to N channels, with shapes and parameter count redone for [1, N, size, size]. */
export async function widenBackbone(
  bb: LoadedBackbone,
  channels: number,
  options: WidenOptions = {},
): Promise<LoadedBackbone & { widened: WidenedInput }> {
  const { model, widened } = widenInput(bb.model, channels, options);
  const { shapes } = await foldConstants(model, { [bb.inputName]: [1, channels, bb.inputSize, bb.inputSize] });
  const old = bb.model.graph.initializers.get(widened.weight)!.data.length;
  const now = model.graph.initializers.get(widened.weight)!.data.length;
  return { ...bb, model, shapes, parameterCount: bb.parameterCount - old + now, widened };
}
