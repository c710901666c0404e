/** `d2pruner/flops`: the FLOPs calculator (pure; browser-safe). */
export { computeFlops, layerFlops, decoderShapeFromConfig, visualTokensFromConfig, modelPresets, flopsDefaults, type DecoderShape, type ModelPreset, type FlopsOptions, type FlopsReport, type FlopsVariant } from '../flops.js';
