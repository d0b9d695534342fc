import { AttuneError } from './errors';
import { inputChannels as bandChannels, type BandScaling, type BandSelection } from './data/bands';

/**
 * How images become model input. Recorded in every run and in every exported model's metadata,
 * because an export that preprocesses differently from the app is the bug users hit most (DESIGN.md, export contract).
 */
export type ResizeMode =
  /** resize the shorter side to `resizeTo`, then centre-crop `size`×`size` (ImageNet convention) */
  | 'shorter-crop'
  /** resize to `size`×`size` ignoring aspect ratio */
  | 'squash'
  /** fit the longer side to `size`, pad the rest with the mean colour */
  | 'pad';

export type WindowPreset = 'lung' | 'mediastinum' | 'bone' | 'brain';

/**
 * Standard CT display windows in Hounsfield units (centre/level, width), as listed by Radiopaedia,
 * "Windowing (CT)" (https://radiopaedia.org/articles/windowing-ct): lungs W1500 L−600, mediastinum
 * W350 L50, bone W1800 L400, brain W80 L40.
 */
const WINDOW_PRESETS: Record<WindowPreset, { center: number; width: number }> = {
  lung: { center: -600, width: 1500 },
  mediastinum: { center: 50, width: 350 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
};

/**
 * VOI (value of interest) rule: how samples of more than 8 bits (16-bit PNG/TIFF, DICOM after its
 * modality LUT) become display values in [0, 1]. 8-bit images are always x/255.
 */
export type VoiRule =
  /** the DICOM file's WindowCenter/Width (first value); per-image percentiles where it has none (and for PNG/TIFF) */
  | { kind: 'file' }
  /** a fixed window (DICOM PS3.3 C.11.2.1.2 linear function) in the values after modality LUT / offset */
  | { kind: 'window'; center: number; width: number; preset?: WindowPreset }
  /**
   * window between two percentiles (in %, e.g. 0.5 and 99.5): of each image's samples ('image'), or of the
   * training split's samples pooled ('dataset', fitted at run setup into `fitted`, then fixed like a window)
   */
  | { kind: 'percentile'; low: number; high: number; scope: 'image' | 'dataset'; fitted?: { lo: number; hi: number } }
  /** v / 65535 for 16-bit samples (the old 16-bit rule) */
  | { kind: 'full-range' };

/** Multispectral input: which bands feed the network and their per-band scaling, fitted on the training split. */
export interface BandMapping {
  selection: BandSelection;
  /** bands in the source files (every file must have them) */
  bandCount: number;
  /** fitted at run setup on the training split; required before any image is loaded */
  scaling?: BandScaling;
}

/** Stored samples → model values, before resize/crop/augmentation (all in float). */
export interface ValueMapping {
  voi: VoiRule;
  /**
   * subtracted from the samples of 16-bit PNG/TIFF before the VOI rule (32768 for HU + 32768 data);
   * DICOM uses its modality LUT instead
   */
  offset: number;
  /** MONOCHROME1 images are inverted after the VOI window (always on; recorded so that the export says so) */
  invertMonochrome1: true;
  bands?: BandMapping;
}

export interface Preprocessing {
  /** square input side the backbone expects, e.g. 224 */
  size: number;
  resize: ResizeMode;
  /** shorter side before the centre crop (shorter-crop only), e.g. 256 for 224 */
  resizeTo: number;
  /** per-channel mean and std applied to x/255, RGB order */
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: 'RGB';
  /** how stored samples become values in [0, 1] (or standardised bands) */
  values: ValueMapping;
}

export const DEFAULT_VALUES: ValueMapping = { voi: { kind: 'file' }, offset: 0, invertMonochrome1: true };

export function defaultPreprocessing(
  size: number,
  mean: [number, number, number],
  std: [number, number, number],
): Preprocessing {
  return {
    size,
    resize: 'shorter-crop',
    resizeTo: Math.round((size * 256) / 224),
    mean,
    std,
    channelOrder: 'RGB',
    values: DEFAULT_VALUES,
  };
}

/** Channels of the model input: 3, or the band count when all bands of a multispectral image are used. */
export function inputChannels(pre: Pick<Preprocessing, 'values'>): number {
  const b = pre.values.bands;
  return b ? bandChannels(b.selection, b.bandCount) : 3;
}

/**
 * Parses `--window`: file | lung | mediastinum | bone | brain | percentile[:LOW,HIGH] (training-set percentiles)
 * | image-percentile[:LOW,HIGH] (per image) | full-range | C,W.
 */
export function parseWindow(text: string): VoiRule {
  const t = text.trim().toLowerCase();
  if (t === 'file') return { kind: 'file' };
  if (t === 'full-range') return { kind: 'full-range' };
  if (t in WINDOW_PRESETS) return { kind: 'window', ...WINDOW_PRESETS[t as WindowPreset], preset: t as WindowPreset };
  const pm = /^(image-)?percentiles?(?::\s*([\d.]+)\s*[,-]\s*([\d.]+))?$/.exec(t);
  if (pm) {
    const low = pm[2] === undefined ? 0.5 : Number(pm[2]);
    const high = pm[3] === undefined ? 99.5 : Number(pm[3]);
    if (low >= 0 && high <= 100 && low < high)
      return { kind: 'percentile', low, high, scope: pm[1] ? 'image' : 'dataset' };
  }
  const cw = /^(-?[\d.]+)\s*,\s*([\d.]+)$/.exec(t);
  if (cw && Number.isFinite(Number(cw[1])) && Number(cw[2]) > 0) {
    return { kind: 'window', center: Number(cw[1]), width: Number(cw[2]) };
  }
  throw new AttuneError(
    'usage',
    `--window ${JSON.stringify(text)} is not a window rule.`,
    "Use file (the DICOM file's own window), lung, mediastinum, bone, brain, percentile (0.5–99.5 of the training " +
      'images; or percentile:1,99), image-percentile (per image), full-range, or CENTER,WIDTH in the ' +
      "image's units (HU for CT), e.g. 40,400.",
  );
}

/** The `--window` form of a rule (parseWindow's inverse; a fitted training-set window is refitted when parsed). */
export function formatWindow(v: VoiRule): string {
  if (v.kind === 'window') return v.preset ?? `${v.center},${v.width}`;
  if (v.kind === 'percentile') return `${v.scope === 'image' ? 'image-' : ''}percentile:${v.low},${v.high}`;
  return v.kind;
}

/** Reads a recorded preprocessing, including those of exports made before `values` existed (`bitDepthRule`). */
export function normalisePreprocessing(raw: Preprocessing & { bitDepthRule?: string }): Preprocessing {
  if (raw.values) return raw;
  const { bitDepthRule, ...rest } = raw;
  const voi: VoiRule =
    bitDepthRule === 'percentile-0.5-99.5'
      ? { kind: 'percentile', low: 0.5, high: 99.5, scope: 'image' }
      : { kind: 'full-range' };
  return { ...rest, values: { ...DEFAULT_VALUES, voi } };
}

const fitted = (f: { lo: number; hi: number } | undefined) => (f ? ` [${+f.lo.toFixed(2)}, ${+f.hi.toFixed(2)}]` : '');

/** A short human description of the value mapping, for logs and model cards. */
export function describeValues(v: ValueMapping): string {
  const voi =
    v.voi.kind === 'file'
      ? "DICOM file's own window (first WindowCenter/Width), per-image 0.5–99.5 percentiles where absent"
      : v.voi.kind === 'window'
        ? `window C ${v.voi.center} / W ${v.voi.width}${v.voi.preset ? ` (${v.voi.preset})` : ''}`
        : v.voi.kind === 'percentile'
          ? v.voi.scope === 'image'
            ? `per-image ${v.voi.low}–${v.voi.high} percentile window`
            : `training-set ${v.voi.low}–${v.voi.high} percentile window${fitted(v.voi.fitted)}`
          : '16-bit full range (v/65535)';
  const offset = v.offset ? `, PNG/TIFF value − ${v.offset}` : '';
  const parts = [
    `8-bit images x/255; deeper images: DICOM modality LUT (rescale slope/intercept)${offset}, then ${voi}, then MONOCHROME1 inverted`,
  ];
  if (v.bands) {
    const b = v.bands;
    const scale = b.scaling ? ` (values × ${b.scaling.valueScale} first)` : '';
    parts.push(
      b.selection.mode === 'map'
        ? `multispectral: bands ${b.selection.bands.join(',')} of ${b.bandCount} as RGB, each stretched from its ` +
            `training 2nd–98th percentile to [0, 1]${scale}`
        : `multispectral: all ${b.bandCount} bands as input channels, each standardised (v − mean)/std with the ` +
            `training split's statistics${scale}; the first convolution takes ${b.bandCount} channels`,
    );
  }
  return parts.join('; ');
}

/** mean = std = 0.5, i.e. x/127.5 − 1: the timm/torchvision ViT convention. */
export const VIT_NORMALISATION = {
  mean: [0.5, 0.5, 0.5] as [number, number, number],
  std: [0.5, 0.5, 0.5] as [number, number, number],
};
/** ImageNet statistics, used by torchvision CNNs such as MobileNetV2. */
export const IMAGENET_NORMALISATION = {
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
};
