/** Data sets for training and validation: spec parsing, file formats, batching. */
export * from './dataset.js';
export { loadDataset, LoadedDataset, holdoutIndices, DATA_SPECS } from './loader.js';
export { dataInputOf, sampleShapeOf, classCountOf, checkModelFitsData, loadDatasetFor } from './fit.js';
export { openNpy, readNpyElements, readNpyLabels, encodeNpy } from './npy.js';
export type { NpyFile, NpyDtype } from './npy.js';
export { openIdx, readIdxItem, readIdxLabels } from './idx.js';
export type { IdxFile } from './idx.js';
export { decodeImage, resizePlanes } from './image.js';
export type { DecodedImage } from './image.js';
