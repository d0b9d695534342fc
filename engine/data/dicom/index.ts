/** DICOM reading: content sniffing, header (without pixels), and one frame as float pixels. */
export { looksLikeDicom } from './sniff';
export { type DicomHeader, readDicomHeader } from './header';
export { type DicomImage, readDicomImage } from './image';
