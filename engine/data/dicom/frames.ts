/** Finds the bytes of one frame in the pixel data element: native (a slice) or encapsulated (its fragments). */
import { type DataSet, type Element, dicomParser } from './dataset';
import type { DicomHeader } from './header';

/** Bytes one native frame occupies (YBR_FULL_422 stores two samples per pixel). */
export function nativeFrameLength(h: DicomHeader): number {
  const samples =
    h.photometric === 'YBR_FULL_422' || h.photometric === 'YBR_PARTIAL_422'
      ? h.rows * h.columns * 2
      : h.rows * h.columns * h.samplesPerPixel;
  return (samples * h.bitsAllocated) / 8;
}

/** A native frame, or undefined when the file ends before it (the caller reports a truncated file). */
export function nativeFrame(ds: DataSet, el: Element, h: DicomHeader, frame: number): Uint8Array | undefined {
  const len = nativeFrameLength(h);
  const start = el.dataOffset + frame * len;
  if (start + len > ds.byteArray.length) return undefined;
  return ds.byteArray.subarray(start, start + len);
}

/** The compressed stream of one frame, following PS3.5 A.4: offset table, one fragment per frame, or JPEG markers. */
export function encapsulatedFrame(
  ds: DataSet,
  el: Element,
  h: DicomHeader,
  frame: number,
  isJpeg: boolean,
): Uint8Array {
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw new Error('pixel data holds no fragments');
  if (h.frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
  if (el.basicOffsetTable && el.basicOffsetTable.length > 0) {
    return dicomParser.readEncapsulatedImageFrame(ds, el, frame);
  }
  if (fragments.length === h.frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, frame, 1);
  if (isJpeg) {
    const table = dicomParser.createJPEGBasicOffsetTable(ds, el);
    return dicomParser.readEncapsulatedImageFrame(ds, el, frame, table);
  }
  throw new Error('frames span several fragments without an offset table');
}
