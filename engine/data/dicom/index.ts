/**
 * DICOM reading: content sniffing, the header without pixels, and one frame as float pixels.
 *
 * sniff.ts (Part 10 or bare dataset?) → dataset.ts (dicom-parser, errors) → header.ts (fields, skip reasons) →
 * frames.ts (native slice / encapsulated fragments) → pixels.ts (stored values per transfer syntax, via codecs.ts
 * and rle.ts) → image.ts (Modality LUT, padding, palette/YBR via colour.ts).
 *
 * Packaging: the codec packages and dicom-parser are runtime `dependencies`, loaded with createRequire and given
 * their .wasm bytes from node_modules, so electron-vite must keep them external (externalizeDeps does) and
 * they work from inside the asar (Electron's fs reads it). vendor/jpeg12.js is plain ESM and may be bundled.
 */
export { looksLikeDicom } from './sniff';
export { type DicomHeader, readDicomHeader } from './header';
export { type DicomImage, type ReadDicomOptions, readDicomImage } from './image';
