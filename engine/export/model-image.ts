/**
 * model-image.onnx: the calibrated classifier with its preprocessing inside the graph, so a deployment feeds
 * decoded RGB bytes of any size and needs no resize, crop or normalisation code of its own.
 * uint8 [N, H, W, 3] → float NCHW → Resize (bilinear, antialiased like Pillow, shorter side to `resizeTo`,
 * sizes computed from Shape) → round to 8 bit like the engine's decoder → centre crop (torchvision's offsets)
 * → (x/255 − mean)/std → the classifier. Needs opset 18 (Resize's `antialias`).
 */
import { AttuneError } from '../errors';
import { Builder } from '../ir/builder';
import { cloneModel, int, str, type Model } from '../ir/graph';
import { tensor } from '../ir/tensor';
import { inputChannels, type Preprocessing } from '../preprocessing';
import { loadImageTensor, resizeTarget } from '../data/image';
import { openImage, toRgb, type RgbImage } from '../data/decode';
import { createSession } from '../runtime/session';

export const IMAGE_INPUT = 'image';
const RESIZE_OPSET = 18;
/**
 * Ops whose form changed between opset 13 and 18 so that a plain opset bump would misread them: the Reduce ops
 * (axes moved from attribute to input at 18). Split, Pad, Resize and the Scatter ops only gained optional
 * inputs or attributes after 13, so their meaning is kept.
 */
const CHANGED_BY_18 = new Set([
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
]);

/** Why this model cannot get in-graph preprocessing, or undefined when it can. */
export function modelImageUnsupported(model: Model, pre: Preprocessing): string | undefined {
  if (pre.resize !== 'shorter-crop' && pre.resize !== 'squash')
    return `its preprocessing ("${pre.resize}") pads the image, which the image model does not do in-graph yet`;
  if (pre.values.bands)
    return `its input is ${inputChannels(pre)} multispectral channels mapped by the recorded band scaling, not RGB pixels`;
  if (model.opset < 13)
    return `it is an opset ${model.opset} model; the image model needs opset 13 or later to raise to 18`;
  if (model.opset < RESIZE_OPSET) {
    const changed = [
      ...new Set(model.graph.nodes.filter((n) => !n.domain && CHANGED_BY_18.has(n.op)).map((n) => n.op)),
    ];
    if (changed.length) return `it uses ${changed.join(', ')} at opset ${model.opset}, whose form changed by opset 18`;
  }
  return undefined;
}

/** The image model around `classifier` (float32 [N, 3, S, S] normalised → probabilities). */
export function withImagePreprocessing(classifier: Model, pre: Preprocessing): Model {
  const why = modelImageUnsupported(classifier, pre);
  if (why)
    throw new AttuneError(
      'model-image-unsupported',
      `Cannot build model-image.onnx: ${why}.`,
      'Use model.onnx with the preprocessing in its metadata.',
    );
  const m = cloneModel(classifier);
  m.opset = Math.max(m.opset, RESIZE_OPSET);
  const g = m.graph;
  const inner = g.inputs[0].name;
  const before = g.nodes.length;
  const b = new Builder(g, 'attune_pre', 'float32', m.opset);
  const S = pre.size;
  const x = b.transpose(b.cast(IMAGE_INPUT, 1 /* FLOAT */), [0, 3, 1, 2]);
  const shape = b.op('Shape', [x]);
  const nc = b.op('Slice', [shape, b.ints([0]), b.ints([2])]);
  const h = b.op('Slice', [shape, b.ints([2]), b.ints([3])]);
  const w = b.op('Slice', [shape, b.ints([3]), b.ints([4])]);
  let sizes: string;
  let hh: string;
  let ww: string;
  if (pre.resize === 'squash') {
    hh = ww = b.ints([S]);
    sizes = b.op('Concat', [nc, hh, ww], { axis: int(0) });
  } else {
    // torchvision: shorter side → R, longer side R·L/shorter truncated (int64 Div truncates for positives)
    const R = b.ints([resizeTarget(pre)]);
    const shorter = b.op('Min', [h, w]);
    hh = b.div(b.mul(h, R), shorter);
    ww = b.div(b.mul(w, R), shorter);
    sizes = b.op('Concat', [nc, hh, ww], { axis: int(0) });
  }
  const resized = b.op('Resize', [x, '', '', sizes], {
    mode: str('linear'),
    antialias: int(1),
    coordinate_transformation_mode: str('half_pixel'),
  });
  // the engine's decoder hands 8-bit pixels to normalisation: round and clamp the same way
  const bytes = b.op('Round', [b.op('Clip', [resized, b.scalar(0), b.scalar(255)])]);
  let cropped = bytes;
  if (pre.resize === 'shorter-crop') {
    // torchvision CenterCrop: offset = round((L − S) / 2), Python rounding (halves to even)
    const offset = (len: string) => {
      const d = b.sub(len, b.ints([S]));
      const half = b.div(d, b.ints([2]));
      const odd = b.op('Mod', [d, b.ints([2])]);
      return b.add(half, b.mul(odd, b.op('Mod', [half, b.ints([2])])));
    };
    const top = offset(hh);
    const left = offset(ww);
    const starts = b.op('Concat', [top, left], { axis: int(0) });
    const ends = b.add(starts, b.ints([S, S]));
    cropped = b.op('Slice', [bytes, starts, ends, b.ints([2, 3])]);
  }
  const scale = b.floats(
    [1, 3, 1, 1],
    pre.std.map((s) => 1 / (255 * s)),
  );
  const shift = b.floats(
    [1, 3, 1, 1],
    pre.mean.map((mu, c) => -mu / pre.std[c]),
  );
  const normalised = b.add(b.mul(cropped, scale), shift);
  g.nodes.push({
    name: 'attune_pre/to_classifier',
    op: 'Identity',
    domain: '',
    inputs: [normalised],
    outputs: [inner],
    attrs: {},
  });
  // preprocessing runs first: move its nodes to the front, keeping the classifier's order
  g.nodes = [...g.nodes.slice(before), ...g.nodes.slice(0, before)];
  g.inputs = [{ name: IMAGE_INPUT, dtype: 'uint8', shape: ['batch', 'height', 'width', 3] }];
  return m;
}

export interface ImageModelCheck {
  images: number;
  /** share of images whose top class is the same as the engine pipeline's */
  top1Agreement: number;
  /** max |p_image_model − p_engine| over all images and classes */
  maxProbabilityDiff: number;
  /** images where the top classes differ, with the engine's margin between its top two probabilities */
  disagreements: { file: string; engineMargin: number }[];
}

function softmaxRows(x: Float32Array, C: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length / C; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, x[i * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += out[i * C + c] = Math.exp(x[i * C + c] - max);
    for (let c = 0; c < C; c++) out[i * C + c] /= sum;
  }
  return out;
}

const argmax = (p: Float32Array) => p.reduce((best, v, i) => (v > p[best] ? i : best), 0);

/** A file's 8-bit RGB pixels as a deployment decodes them; undefined for DICOM, 16-bit and multispectral files. */
export async function decodedRgb8(file: string): Promise<RgbImage | undefined> {
  const opened = await openImage(file).catch(() => undefined);
  return opened?.kind === 'rgb8' ? toRgb(opened.opened.pipeline, file) : undefined;
}

/**
 * Runs the image model on each file's decoded RGB bytes and the classifier on the engine's own preprocessing
 * of the same file; `logits`: both output logits, compared after softmax.
 */
export async function checkImageModel(
  imageModel: Model | Uint8Array,
  classifier: Model | Uint8Array,
  files: string[],
  pre: Preprocessing,
  opts: { logits?: boolean } = {},
): Promise<ImageModelCheck> {
  const img = await createSession(imageModel, { provider: 'cpu' });
  const ref = await createSession(classifier, { provider: 'cpu' });
  let agree = 0;
  let maxDiff = 0;
  const disagreements: ImageModelCheck['disagreements'] = [];
  const S = pre.size;
  for (const file of files) {
    const rgb = await decodedRgb8(file);
    if (!rgb)
      throw new AttuneError(
        'model-image-source',
        `${file} is not an 8-bit image, so model-image.onnx cannot take it.`,
        'Check model-image.onnx on 8-bit photos only.',
      );
    const a = (await img.run({ [IMAGE_INPUT]: tensor('uint8', [1, rgb.height, rgb.width, 3], rgb.data) }))[
      img.outputNames[0]
    ].data as Float32Array;
    const x = await loadImageTensor(file, pre);
    const r = (await ref.run({ [ref.inputNames[0]]: tensor('float32', [1, 3, S, S], x) }))[ref.outputNames[0]]
      .data as Float32Array;
    const [pa, pr] = opts.logits ? [softmaxRows(a, a.length), softmaxRows(r, r.length)] : [a, r];
    if (argmax(pa) === argmax(pr)) agree++;
    else {
      const sorted = Array.from(pr).sort((u, v) => v - u);
      disagreements.push({ file, engineMargin: sorted[0] - sorted[1] });
    }
    for (let c = 0; c < pa.length; c++) maxDiff = Math.max(maxDiff, Math.abs(pa[c] - pr[c]));
  }
  await Promise.all([img.release(), ref.release()]);
  return {
    images: files.length,
    top1Agreement: files.length ? agree / files.length : 0,
    maxProbabilityDiff: maxDiff,
    disagreements,
  };
}
