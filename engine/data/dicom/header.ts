/** The header fields Attune needs from a DICOM dataset, and whether the object is an image at all. */
import { open } from 'node:fs/promises';
import { AttuneError } from '../../errors';
import {
  type DataSet,
  PIXEL_DATA,
  ParseFailure,
  parseDataSet,
  transferSyntaxUid,
  truncatedError,
  unreadableError,
} from './dataset';
import { transferSyntax } from './syntax';

export interface DicomHeader {
  kind: 'image' | 'skip';
  /** plain words on why a non-image object is skipped */
  skipReason?: string;
  sopClassUid?: string;
  modality?: string;
  bodyPart?: string;
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  /** MONOCHROME1, MONOCHROME2, RGB, PALETTE COLOR, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT … */
  photometric: string;
  /** 0: samples interleaved per pixel; 1: one plane per sample (native and RLE data only) */
  planarConfiguration: 0 | 1;
  transferSyntaxUid: string;
  /** e.g. "JPEG 2000 (lossless)" */
  transferSyntaxName: string;
  /** true when the transfer syntax may be lossy (the pixels may differ from what the scanner produced) */
  lossy: boolean;
  /** false when no decoder handles the transfer syntax (readDicomImage throws unsupported-transfer-syntax) */
  decodable: boolean;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** first value when several ('30\-550' → 30) */
  window?: { center: number; width: number };
  /** stored value (after signed handling) that marks pixels outside the body */
  pixelPadding?: number;
  /** with pixelPadding: every stored value between the two (inclusive) is padding */
  pixelPaddingRangeLimit?: number;
  /** raw identifiers: the caller hashes them; never log or write them */
  patientId?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}

/** SOP classes that hold no image, by UID prefix, with the words a person sees. */
const NON_IMAGE_CLASSES: [prefix: string, reason: string][] = [
  ['1.2.840.10008.1.3.10', 'DICOMDIR (a directory index, not an image)'],
  ['1.2.840.10008.5.1.4.1.1.88.59', 'key object selection (a list of references, not an image)'],
  ['1.2.840.10008.5.1.4.1.1.88.', 'structured report (SR)'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RT structure set'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RT plan'],
  ['1.2.840.10008.5.1.4.1.1.481.8', 'RT ion plan'],
  ['1.2.840.10008.5.1.4.1.1.481.', 'radiotherapy record (no image)'],
  ['1.2.840.10008.5.1.4.1.1.11.', 'presentation state'],
  ['1.2.840.10008.5.1.4.1.1.104.1', 'encapsulated PDF'],
  ['1.2.840.10008.5.1.4.1.1.104.', 'encapsulated document'],
  ['1.2.840.10008.5.1.4.1.1.66.4', 'segmentation (a mask, not an image)'],
  ['1.2.840.10008.5.1.4.1.1.66', 'raw data or registration (no image)'],
  ['1.2.840.10008.5.1.4.1.1.9.', 'waveform (ECG or similar, not an image)'],
  ['1.2.840.10008.5.1.4.1.1.30', 'parametric map (floating-point values, not supported)'],
];

const NO_PIXEL_DATA = 'no pixel data';

function skipReasonFor(sopClass: string | undefined, ds: DataSet, bitsAllocated: number): string | undefined {
  if (sopClass) {
    for (const [prefix, reason] of NON_IMAGE_CLASSES) {
      if (sopClass === prefix || sopClass.startsWith(prefix.endsWith('.') ? prefix : `${prefix}.`)) return reason;
    }
  }
  if (!ds.elements[PIXEL_DATA]) {
    if (ds.elements.x7fe00008 || ds.elements.x7fe00009) return 'floating-point pixel data (not supported)';
    return NO_PIXEL_DATA;
  }
  if (bitsAllocated === 1) return '1-bit pixel data (a mask, not an image)';
  return undefined;
}

const clean = (s: string | undefined): string | undefined => {
  const t = s?.replace(/\0/g, '').trim();
  return t ? t : undefined;
};

/** A number from a DS/IS string, tolerant of '001.000000E+00' and padding; undefined when absent or not a number. */
function decimal(ds: DataSet, tag: string, index = 0): number | undefined {
  const s = clean(ds.string(tag, index));
  if (s === undefined) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** A US/SS value whose VR may be unknown (implicit VR): read 16 bits and apply the pixel representation. */
function us16(ds: DataSet, tag: string, signed: boolean): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length < 2) return undefined;
  const v = ds.uint16(tag);
  if (v === undefined) return undefined;
  return signed && v >= 0x8000 ? v - 0x10000 : v;
}

export function headerFromDataSet(ds: DataSet, bytes: Uint8Array): DicomHeader {
  const tsUid = transferSyntaxUid(ds, bytes);
  const syntax = transferSyntax(tsUid);
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  const pixelRepresentation = ds.uint16('x00280103') === 1 ? 1 : 0;
  const sopClassUid = clean(ds.string('x00080016')) ?? clean(ds.string('x00020002'));
  const skipReason = skipReasonFor(sopClassUid, ds, bitsAllocated);
  const center = decimal(ds, 'x00281050');
  const width = decimal(ds, 'x00281051');
  const samplesPerPixel = ds.uint16('x00280002') ?? 1;
  const header: DicomHeader = {
    kind: skipReason ? 'skip' : 'image',
    skipReason,
    sopClassUid,
    modality: clean(ds.string('x00080060')),
    bodyPart: clean(ds.string('x00180015')),
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
    frames: Math.max(1, decimal(ds, 'x00280008') ?? 1),
    samplesPerPixel,
    bitsAllocated,
    bitsStored: ds.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation,
    photometric: clean(ds.string('x00280004'))?.toUpperCase() ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2'),
    planarConfiguration: ds.uint16('x00280006') === 1 ? 1 : 0,
    transferSyntaxUid: tsUid,
    transferSyntaxName: syntax.name,
    lossy: syntax.lossy || clean(ds.string('x00282110')) === '01',
    decodable: syntax.encoding !== 'unsupported',
    rescaleSlope: decimal(ds, 'x00281053') || 1,
    rescaleIntercept: decimal(ds, 'x00281052') ?? 0,
    window: center !== undefined && width !== undefined && width > 0 ? { center, width } : undefined,
    pixelPadding: us16(ds, 'x00280120', pixelRepresentation === 1),
    pixelPaddingRangeLimit: us16(ds, 'x00280121', pixelRepresentation === 1),
    patientId: clean(ds.string('x00100020')),
    studyInstanceUid: clean(ds.string('x0020000d')),
    seriesInstanceUid: clean(ds.string('x0020000e')),
  };
  if (header.kind === 'image' && (header.rows === 0 || header.columns === 0 || bitsAllocated === 0)) {
    header.kind = 'skip';
    header.skipReason = 'pixel data without image size (rows, columns or bits allocated missing)';
  }
  return header;
}

const FIRST_READ = 64 * 1024;

/**
 * Reads the header without the pixel data: the first 64 KiB, more only when the header is longer
 * (large private tags, icon images). Fast enough for scans that touch every file.
 */
export async function readDicomHeader(file: string): Promise<DicomHeader> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let want = Math.min(size, FIRST_READ);
    for (;;) {
      const buf = Buffer.alloc(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      const bytes = buf.subarray(0, bytesRead);
      try {
        const header = headerFromDataSet(parseDataSet(bytes, true), bytes);
        // a header read that ends on an element boundary before the pixel data parses cleanly: only a read of the
        // whole file may say there is none (gdcm-US-ALOKA-16 has 98 KiB of segmented palettes before its pixels)
        if (header.kind === 'skip' && header.skipReason === NO_PIXEL_DATA && want < size) {
          want = Math.min(size, want * 8);
          continue;
        }
        return header;
      } catch (e) {
        if (!(e instanceof ParseFailure)) throw e;
        if (want < size) {
          want = Math.min(size, want * 8);
          continue;
        }
        if (e.reason === 'not a DICOM file') {
          throw new AttuneError('not-dicom', `${file} is not a DICOM file.`, 'Remove it from the dataset folder.', {
            file,
          });
        }
        if (e.truncated) throw truncatedError(file);
        throw unreadableError(file, 'its header is malformed');
      }
    }
  } finally {
    await fh.close();
  }
}
