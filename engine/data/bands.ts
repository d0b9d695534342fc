/**
 * Band mapping for multispectral rasters: which bands feed the model ('map' three bands onto the backbone's RGB
 * channels, or 'all' bands into a widened first convolution), per-band scaling fitted on the training split, and
 * an 8-bit preview. Pure functions on planar float data ([bands][height*width], NaN = nodata).
 */
import { AttuneError } from '../errors';
import type { RgbImage } from './decode';
import { mulberry32 } from '../util/random';

export type BandSelection = { mode: 'map'; bands: [number, number, number] /* 1-based */ } | { mode: 'all' };

/** Sentinel-2 L1C band order as stored in EuroSAT-MS (B8A last). */
export const SENTINEL2_BANDS = [
  'B01',
  'B02',
  'B03',
  'B04',
  'B05',
  'B06',
  'B07',
  'B08',
  'B09',
  'B10',
  'B11',
  'B12',
  'B8A',
] as const;
/** 1-based band numbers in that order: true colour B04,B03,B02; false colour (vegetation red) B08,B04,B03. */
export const SENTINEL2_PRESETS = {
  'true-colour': [4, 3, 2],
  'false-colour': [8, 4, 3],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Sentinel2Preset = keyof typeof SENTINEL2_PRESETS;
/** Sentinel-2 L1C digital numbers → top-of-atmosphere reflectance. */
export const SENTINEL2_REFLECTANCE_SCALE = 1 / 10000;

/** What the band helpers need of a raster (engine/data/geotiff's Raster has these). */
export interface PlanarRaster {
  width: number;
  height: number;
  bands: number;
  /** [bands][height*width]; NaN = nodata */
  data: Float32Array;
  /** for messages */
  file?: string;
}

const badSelection = (text: string, why: string, bandCount?: number) =>
  new AttuneError(
    'band-selection',
    `--bands ${JSON.stringify(text)}: ${why}.`,
    `Give three 1-based band numbers for red, green and blue (e.g. 4,3,2 for Sentinel-2 true colour${bandCount ? `; these images have bands 1–${bandCount}` : ''}), a preset (true-colour, false-colour), or "all".`,
    { text, bandCount },
  );

/**
 * Parses the CLI/app value: 'all', 'R,G,B' (1-based), or a Sentinel-2 preset name. With `bandCount`, the numbers
 * are checked against the images' bands.
 */
export function parseBandSelection(text: string, bandCount?: number): BandSelection {
  const t = text.trim().toLowerCase();
  if (t === 'all') return { mode: 'all' };
  const preset = (SENTINEL2_PRESETS as Record<string, readonly [number, number, number]>)[t.replace('color', 'colour')];
  const parts = preset ? preset.map(String) : t.split(',').map((p) => p.trim());
  if (parts.length !== 3)
    throw badSelection(
      text,
      `expected three band numbers separated by commas, got ${parts.length === 1 && !parts[0] ? 'nothing' : `${parts.length} value${parts.length === 1 ? '' : 's'}`}`,
      bandCount,
    );
  const bad = parts.find((p) => !/^\d+$/.test(p) || Number(p) < 1);
  if (bad !== undefined)
    throw badSelection(text, `"${bad}" is not a band number (bands are counted from 1)`, bandCount);
  const sel: BandSelection = { mode: 'map', bands: parts.map(Number) as [number, number, number] };
  if (bandCount !== undefined) checkBandSelection(sel, bandCount, text);
  return sel;
}

/** Fails when a mapped band does not exist in images with `bandCount` bands ("band 14 of 13"). */
export function checkBandSelection(sel: BandSelection, bandCount: number, text = formatBandSelection(sel)): void {
  if (sel.mode === 'all') return;
  const over = sel.bands.find((b) => b > bandCount);
  if (over !== undefined)
    throw badSelection(
      text,
      `band ${over} of ${bandCount}: these images have only ${bandCount} band${bandCount === 1 ? '' : 's'}`,
      bandCount,
    );
}

/** The CLI form back ('4,3,2' or 'all'), for run records and messages. */
export function formatBandSelection(sel: BandSelection): string {
  return sel.mode === 'all' ? 'all' : sel.bands.join(',');
}

/** Channels the model takes: 3 for a mapping, every band for 'all'. */
export function inputChannels(sel: BandSelection, bandCount: number): number {
  return sel.mode === 'all' ? bandCount : 3;
}

/** Sentinel-2 L1C as in EuroSAT-MS: 13 uint16 bands, or bands named like SENTINEL2_BANDS. */
export function looksLikeSentinel2(h: {
  bands: number;
  sampleFormat: string;
  bitsPerSample: number;
  bandNames?: string[];
}): boolean {
  if (h.bandNames)
    return h.bandNames.length === 13 && h.bandNames.every((n, i) => n.toUpperCase() === SENTINEL2_BANDS[i]);
  return isSentinel2Raster({ bands: h.bands, sampleType: `${h.sampleFormat}${h.bitsPerSample}` });
}

/** A raster of Sentinel-2 L1C as a dataset holds it (EuroSAT-MS): 13 bands of uint16 (the scan's sample type). */
export function isSentinel2Raster(r: { bands: number; sampleType: string }): boolean {
  return r.bands === 13 && r.sampleType === 'uint16';
}

/** Which bands show as red, green, blue: the mapping itself, or for 'all' true colour (Sentinel-2) / bands 1–3. */
export function previewBands(
  sel: BandSelection,
  bandCount: number,
  sentinel2 = bandCount === 13,
): [number, number, number] {
  if (sel.mode === 'map') return sel.bands;
  if (sentinel2) return [...SENTINEL2_PRESETS['true-colour']];
  return bandCount >= 3 ? [1, 2, 3] : [1, 1, 1];
}

// ---------------------------------------------------------------------------------------------------------------
// Per-band scaling, fitted on the training split

export interface BandStats {
  /** over valid (non-nodata) pixels, after valueScale */
  mean: number;
  /** population standard deviation */
  std: number;
  /** 2nd and 98th percentiles (linear interpolation between order statistics, numpy's default) */
  p2: number;
  p98: number;
  min: number;
  max: number;
  /** valid pixels seen; 0 means the band was nodata everywhere (neutral scaling then) */
  count: number;
}

/** JSON-serialisable: goes into the run's preprocessing record and the export's metadata as is. */
export interface BandScaling {
  kind: 'attune.band-scaling';
  version: 1;
  /** multiplies raw values first (Sentinel-2: 1/10000 → reflectance), so the statistics read in those units */
  valueScale: number;
  bandCount: number;
  /** training rasters the statistics come from */
  rasters: number;
  /** percentiles come from a seeded uniform sample of at most this many valid pixels per band (exact below it) */
  sampleSize: number;
  seed: number;
  bands: BandStats[];
}

export interface FitOptions {
  valueScale?: number;
  /** per-band reservoir size (memory: 4 bytes × bands × sampleSize); default 100 000 */
  sampleSize?: number;
  seed?: number;
}

/** Running mean/M2 (Chan et al.'s pairwise merge: exact and stable in float64), extremes, and a reservoir sample. */
class BandAccumulator {
  count = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  seen = 0;
  readonly sample: Float32Array;
  constructor(
    size: number,
    private readonly rng: () => number,
  ) {
    this.sample = new Float32Array(size);
  }

  add(values: Float32Array, scale: number): void {
    let n = 0,
      mean = 0,
      m2 = 0;
    const k = this.sample.length;
    for (let i = 0; i < values.length; i++) {
      const raw = values[i];
      if (Number.isNaN(raw)) continue;
      const v = raw * scale;
      n++;
      const d = v - mean;
      mean += d / n;
      m2 += d * (v - mean);
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      // reservoir sampling (Vitter's algorithm R): every valid pixel is kept with equal probability k/seen
      if (this.seen < k) this.sample[this.seen] = v;
      else {
        const j = Math.floor(this.rng() * (this.seen + 1));
        if (j < k) this.sample[j] = v;
      }
      this.seen++;
    }
    if (n === 0) return;
    const total = this.count + n;
    const delta = mean - this.mean;
    this.m2 += m2 + (delta * delta * this.count * n) / total;
    this.mean += (delta * n) / total;
    this.count = total;
  }

  finish(): BandStats {
    if (this.count === 0) return { mean: 0, std: 1, p2: 0, p98: 1, min: 0, max: 0, count: 0 };
    const sorted = this.sample.slice(0, Math.min(this.seen, this.sample.length)).sort();
    return {
      mean: this.mean,
      std: Math.sqrt(this.m2 / this.count),
      p2: percentile(sorted, 2),
      p98: percentile(sorted, 98),
      min: this.min,
      max: this.max,
      count: this.count,
    };
  }
}

/** numpy.percentile's default ('linear'): interpolates between the order statistics around (n−1)·p/100. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Per-band statistics over the training rasters only (pass the train split; val/test must not leak into the
 * scaling). Memory is bounded by the reservoir, whatever the number of files. Every raster must have the same
 * band count ('band-count').
 */
export async function fitBandScaling(
  rasters: Iterable<PlanarRaster> | AsyncIterable<PlanarRaster>,
  opts: FitOptions = {},
): Promise<BandScaling> {
  const valueScale = opts.valueScale ?? 1;
  const sampleSize = opts.sampleSize ?? 100_000;
  const seed = opts.seed ?? 0;
  const rng = mulberry32(seed);
  let acc: BandAccumulator[] | undefined;
  let count = 0;
  for await (const r of rasters) {
    acc ??= Array.from({ length: r.bands }, () => new BandAccumulator(sampleSize, rng));
    if (r.bands !== acc.length)
      throw new AttuneError(
        'band-count',
        `${r.file ?? `Training image ${count + 1}`} has ${r.bands} bands, but the other training images have ${acc.length}.`,
        'Every GeoTIFF of a dataset must have the same bands in the same order: remove this file or re-export it with the same bands.',
        { file: r.file, bands: r.bands, expected: acc.length },
      );
    const plane = r.width * r.height;
    for (let b = 0; b < r.bands; b++) acc[b].add(r.data.subarray(b * plane, (b + 1) * plane), valueScale);
    count++;
  }
  if (!acc)
    throw new AttuneError(
      'band-scaling-empty',
      'No training images to fit the band scaling on.',
      'Add images to the training split.',
    );
  return {
    kind: 'attune.band-scaling',
    version: 1,
    valueScale,
    bandCount: acc.length,
    rasters: count,
    sampleSize,
    seed,
    bands: acc.map((a) => a.finish()),
  };
}

/**
 * The model's input channels from a raster: planar float32 [C][H*W], C = 3 for 'map', N for 'all'.
 *
 * - 'map': each chosen band is stretched so its training 2nd..98th percentiles span [0, 1], clipped. That is the
 *   range an RGB backbone's preprocessing expects of x/255, so the backbone's own mean/std follow unchanged
 *   (v − mean_c) / std_c. A percentile stretch, not min–max, because a few saturated or dark pixels (clouds,
 *   shadows) would otherwise squeeze the useful range; per band, because bands differ in brightness by 5× and more.
 * - 'all': (x − mean_b) / std_b per band, the standardisation the widened first convolution's new channels are
 *   initialised for (zero-mean, unit-variance input like a normalised RGB channel); no backbone mean/std after.
 * Nodata (NaN) becomes 0 after scaling: black in 'map' mode, the band's training mean in 'all' mode.
 */
export function applyBandScaling(r: PlanarRaster, sel: BandSelection, s: BandScaling): Float32Array {
  if (r.bands !== s.bandCount)
    throw new AttuneError(
      'band-count',
      `${r.file ?? 'This image'} has ${r.bands} bands, but the model was trained on ${s.bandCount}.`,
      `Use images with the same ${s.bandCount} bands in the same order as the training images.`,
      { file: r.file, bands: r.bands, expected: s.bandCount },
    );
  checkBandSelection(sel, r.bands);
  const plane = r.width * r.height;
  const bands = sel.mode === 'all' ? Array.from({ length: r.bands }, (_, i) => i + 1) : sel.bands;
  const out = new Float32Array(bands.length * plane);
  bands.forEach((band, c) => {
    const st = s.bands[band - 1];
    const src = r.data.subarray((band - 1) * plane, band * plane);
    const dst = out.subarray(c * plane, (c + 1) * plane);
    if (sel.mode === 'map') stretch(src, dst, s.valueScale, st.p2, st.p98);
    else {
      // a constant band (std 0) carries no information: centre it only
      const inv = st.std > 0 ? 1 / st.std : 1;
      for (let i = 0; i < plane; i++) {
        const v = (src[i] * s.valueScale - st.mean) * inv;
        dst[i] = Number.isNaN(v) ? 0 : v;
      }
    }
  });
  return out;
}

/** (x·scale − lo) / (hi − lo) clipped to [0, 1], NaN → 0; a constant band (hi = lo) maps to 0. */
function stretch(src: Float32Array, dst: Float32Array, scale: number, lo: number, hi: number): void {
  const inv = hi > lo ? 1 / (hi - lo) : 0;
  for (let i = 0; i < src.length; i++) {
    const v = (src[i] * scale - lo) * inv;
    dst[i] = Number.isNaN(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/**
 * 8-bit interleaved RGB for the app's preview: the mapped bands (for 'all', true colour) with the fitted
 * percentile stretch, or without a fitted scaling, a stretch fitted on this raster alone. Nodata shows black.
 */
export async function previewRgb(
  r: PlanarRaster,
  sel: BandSelection,
  scaling?: BandScaling,
  sentinel2?: boolean,
): Promise<RgbImage> {
  const bands = previewBands(sel, r.bands, sentinel2);
  const s = scaling ?? (await fitBandScaling([r], { sampleSize: r.width * r.height }));
  const planar = applyBandScaling(r, { mode: 'map', bands }, s);
  const plane = r.width * r.height;
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) data[i * 3 + c] = Math.round(planar[c * plane + i] * 255);
  return { data, width: r.width, height: r.height };
}
