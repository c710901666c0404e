/**
 * `d2pruner/node`: Node-only helpers — loading a model folder offline with transformers.js, and kept-token
 * overlays drawn with sharp. Importing this entry loads `node:fs` and `sharp`; the browser needs neither.
 */
export { loadVisionLanguageModel, readImage, promptInputs, type LoadedVisionLanguageModel } from '../adapters/transformers/load.js';
export { renderOverlay, renderOverlayWithLayout, type OverlayOptions, type OverlayPanel, type OverlayHeatmap, type OverlayLayout, type TileRegion } from '../visualize/overlay.js';
export { imagePatchFeatures, type ImagePatchFeatures, type ImagePatchOptions } from '../visualize/image-features.js';
export { testbedModelDir } from '../testbed/model-dir.js';
