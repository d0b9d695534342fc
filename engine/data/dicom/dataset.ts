/** Parses a DICOM byte array with dicom-parser, turning its failures into AttuneErrors a person can act on. */
import { createRequire } from 'node:module';
import { AttuneError } from '../../errors';
import { bareDatasetVr, hasPart10Prefix } from './sniff';

// dicom-parser is a UMD bundle: require it (its ESM named exports are not statically detectable).
// not named `require`: electron-vite's ESM output declares its own top-level `require` shim
export const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
export type DataSet = import('dicom-parser').DataSet;
export type Element = import('dicom-parser').Element;

export const PIXEL_DATA = 'x7fe00010';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** dicom-parser throws strings, Errors, or {exception, dataSet}; this gets the words out. */
function messageOf(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'exception' in e) return messageOf((e as { exception: unknown }).exception);
  return String(e);
}

/** The partial dataset dicom-parser hands back with some failures (what it read before the problem). */
export function partialDataSet(e: unknown): DataSet | undefined {
  if (e && typeof e === 'object' && 'dataSet' in e) return (e as { dataSet: DataSet }).dataSet;
  return undefined;
}

const looksTruncated = (msg: string): boolean =>
  /overr(un|ead)|past end|end of buffer|unexpected end|beyond|outside|truncat/i.test(msg);

export class ParseFailure extends Error {
  constructor(
    readonly truncated: boolean,
    readonly reason: string,
    readonly partial: DataSet | undefined,
  ) {
    super(reason);
  }
}

/**
 * Parses `bytes` (a whole file, or its head when `untilPixelData`). Throws ParseFailure, so callers that read only the
 * head can retry with more bytes before deciding the file is truncated.
 */
export function parseDataSet(bytes: Uint8Array, untilPixelData: boolean): DataSet {
  const options: { untilTag?: string; TransferSyntaxUID?: string } = {};
  if (untilPixelData) options.untilTag = PIXEL_DATA;
  if (!hasPart10Prefix(bytes)) {
    const vr = bareDatasetVr(bytes);
    if (!vr) throw new ParseFailure(false, 'not a DICOM file', undefined);
    options.TransferSyntaxUID = vr === 'explicit' ? EXPLICIT_LE : IMPLICIT_LE;
  }
  try {
    return dicomParser.parseDicom(bytes, options);
  } catch (e) {
    const msg = messageOf(e);
    throw new ParseFailure(looksTruncated(msg), msg, partialDataSet(e));
  }
}

export function truncatedError(file: string): AttuneError {
  return new AttuneError(
    'truncated',
    `${file} is a truncated DICOM file: it ends before its data does.`,
    'Copy the file again from its source (an interrupted download or copy cuts files short), or remove it.',
    { file },
  );
}

export function unreadableError(file: string, what: string): AttuneError {
  return new AttuneError(
    'unreadable',
    `${file} could not be read as DICOM: ${what}.`,
    'Check the file opens in a DICOM viewer; export it again from the source system, or remove it.',
    { file },
  );
}

/** The transfer syntax of a parsed dataset; bare datasets carry none and were parsed as implicit/explicit LE. */
export function transferSyntaxUid(ds: DataSet, bytes: Uint8Array): string {
  const uid = ds.string('x00020010');
  if (uid) return uid.replace(/\0/g, '').trim();
  return bareDatasetVr(bytes) === 'explicit' ? EXPLICIT_LE : IMPLICIT_LE;
}
