/**
 * One entry point from a file to pixels, whatever the format family (DESIGN.md: one decoder module
 * per family): sharp for JPEG/PNG/WebP/GIF/AVIF/TIFF (8-bit stays on sharp's fast path, 16-bit comes
 * out as float samples). The value mapping of the preprocessing record (values.ts) is applied here,
 * so everything after this point (resize, crop, augmentation, normalisation) is format-independent.
 */
import type { ValueMapping } from '../preprocessing';
import { openImage, type SharpOpened } from './decode';
import type { FloatImage } from './pixels';
import { applyVoi } from './values';

function subtractOffset(img: FloatImage, offset: number): FloatImage {
  if (!offset) return img;
  const d = img.data;
  for (let i = 0; i < d.length; i++) d[i] -= offset;
  return img;
}

/** Opens a file and maps its values: 8-bit images as a sharp pipeline, everything deeper as float in [0, 1]. */
export async function openSource(file: string, values: ValueMapping): Promise<SharpOpened> {
  const opened = await openImage(file);
  if (opened.kind === 'rgb8') return opened;
  // 16-bit PNG/TIFF: value − offset (e.g. HU + 32768 → HU), then the VOI rule
  const image = subtractOffset(opened.image, values.offset);
  return { kind: 'float', image: applyVoi(image, values.voi, { minValue: -values.offset, maxValue: 65535 - values.offset }) };
}
