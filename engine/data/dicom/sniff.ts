/** Recognises DICOM by content: Part 10 files ('DICM' at 128) and bare datasets that start with group 0002/0008. */

const isUpper = (b: number | undefined): boolean => b !== undefined && b >= 0x41 && b <= 0x5a;

/** True for Part 10 files (preamble + 'DICM'). */
export function hasPart10Prefix(head: Uint8Array): boolean {
  return head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d;
}

/** 'explicit' or 'implicit' VR for a bare little-endian dataset at offset 0; undefined when it is not one. */
export function bareDatasetVr(head: Uint8Array): 'explicit' | 'implicit' | undefined {
  if (head.length < 16) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const group = view.getUint16(0, true);
  const element = view.getUint16(2, true);
  // Old ACR-NEMA style and raw datasets start with the meta group or the identifying group.
  if ((group !== 0x0002 && group !== 0x0008) || element > 0x00ff) return undefined;
  const explicit = isUpper(head[4]) && isUpper(head[5]);
  let next: number;
  if (explicit) {
    const vr = String.fromCharCode(head[4]!, head[5]!);
    const long = ['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV'].includes(vr);
    next = long ? 12 + view.getUint32(8, true) : 8 + view.getUint16(6, true);
  } else {
    const len = view.getUint32(4, true);
    if (len > 0xffff || len % 2 !== 0) return undefined;
    next = 8 + len;
  }
  // The following element must continue the same or a later group, in ascending order.
  if (next + 4 > head.length) return explicit ? 'explicit' : 'implicit';
  const g2 = view.getUint16(next, true);
  const e2 = view.getUint16(next + 2, true);
  const ordered = g2 > group ? g2 <= 0x0010 : g2 === group && e2 > element;
  if (!ordered) return undefined;
  return explicit ? 'explicit' : 'implicit';
}

/** Cheap content check: 'DICM' at offset 128, or a plausible bare little-endian dataset start (group 0002/0008). */
export function looksLikeDicom(head: Uint8Array): boolean {
  return hasPart10Prefix(head) || bareDatasetVr(head) !== undefined;
}
