/** DICOM reading: content sniffing, header (without pixels), and one frame as float pixels. */
export { looksLikeDicom } from './sniff.js';
export { type DicomHeader, readDicomHeader } from './header.js';
export { type DicomImage, readDicomImage } from './image.js';
