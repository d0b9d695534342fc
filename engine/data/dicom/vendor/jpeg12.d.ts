/** Types for the vendored 12-bit JPEG decoder (jpeg12.js); only what codecs.ts uses. */
declare class JpegImage {
  parse(data: Uint8Array): void;
  width: number;
  height: number;
  colorTransform: boolean;
  components: unknown[];
  getData(width: number, height: number): Uint8Array;
  getData16(width: number, height: number): Uint16Array;
}
export default JpegImage;
