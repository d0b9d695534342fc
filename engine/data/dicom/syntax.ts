/** Transfer syntaxes: how each is named to a person and which decoder handles its pixel data. */

export type PixelEncoding =
  | 'native' // uncompressed, little endian
  | 'native-big' // uncompressed, big endian
  | 'deflate' // dataset deflated, pixel data native little endian
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-extended'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg2000'
  | 'htj2k'
  | 'unsupported';

interface Syntax {
  name: string;
  encoding: PixelEncoding;
  lossy: boolean;
}

const SYNTAXES: Record<string, Syntax> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR little endian', encoding: 'native', lossy: false },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR little endian', encoding: 'native', lossy: false },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated explicit VR little endian', encoding: 'deflate', lossy: false },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR big endian', encoding: 'native-big', lossy: false },
  '1.2.840.10008.1.2.5': { name: 'RLE lossless', encoding: 'rle', lossy: false },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG baseline (lossy, 8-bit)', encoding: 'jpeg-baseline', lossy: true },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG extended (lossy, 12-bit)', encoding: 'jpeg-extended', lossy: true },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG lossless (process 14)', encoding: 'jpeg-lossless', lossy: false },
  '1.2.840.10008.1.2.4.70': {
    name: 'JPEG lossless (process 14, selection value 1)',
    encoding: 'jpeg-lossless',
    lossy: false,
  },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS (lossless)', encoding: 'jpeg-ls', lossy: false },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS (near-lossless)', encoding: 'jpeg-ls', lossy: true },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (lossless)', encoding: 'jpeg2000', lossy: false },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000 (lossless or lossy)', encoding: 'jpeg2000', lossy: true },
  '1.2.840.10008.1.2.4.201': { name: 'HTJ2K (lossless)', encoding: 'htj2k', lossy: false },
  '1.2.840.10008.1.2.4.202': { name: 'HTJ2K with RPCL (lossless)', encoding: 'htj2k', lossy: false },
  '1.2.840.10008.1.2.4.203': { name: 'HTJ2K (lossless or lossy)', encoding: 'htj2k', lossy: true },
  // Named so the error can say which one it is; no maintained Node decoder for these.
  '1.2.840.10008.1.2.4.100': { name: 'MPEG-2 video', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.101': { name: 'MPEG-2 video (high level)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264 video', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.103': { name: 'MPEG-4 AVC/H.264 video (BD)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.104': { name: 'MPEG-4 AVC/H.264 video (2D)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.105': { name: 'MPEG-4 AVC/H.264 video (3D)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.106': { name: 'MPEG-4 AVC/H.264 video (stereo)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 video', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.108': { name: 'HEVC/H.265 video (main 10)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL (lossless)', encoding: 'unsupported', lossy: false },
  '1.2.840.10008.1.2.4.111': { name: 'JPEG XL (JPEG recompression)', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.92': {
    name: 'JPEG 2000 part 2 multi-component (lossless)',
    encoding: 'unsupported',
    lossy: false,
  },
  '1.2.840.10008.1.2.4.93': { name: 'JPEG 2000 part 2 multi-component', encoding: 'unsupported', lossy: true },
  '1.2.840.10008.1.2.4.94': { name: 'JPIP referenced', encoding: 'unsupported', lossy: false },
  '1.2.840.10008.1.2.4.95': { name: 'JPIP referenced (deflate)', encoding: 'unsupported', lossy: false },
  '1.2.840.10008.1.2.6.1': { name: 'RFC 2557 MIME encapsulation', encoding: 'unsupported', lossy: false },
};

export function transferSyntax(uid: string): Syntax {
  return SYNTAXES[uid] ?? { name: `unknown transfer syntax ${uid}`, encoding: 'unsupported', lossy: false };
}
