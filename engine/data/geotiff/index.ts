/** Multispectral GeoTIFF input: see read.ts. */
export { checkBandCount, looksLikeTiff, readRaster, readRasterHeader } from './read';
export type { Raster, RasterHeader, ReadOptions, SampleFormat } from './read';
