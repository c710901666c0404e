export { select, getMethod, type SelectOptions, type MethodOptionsMap } from './select.js';
export { methods, methodNames, type MethodName } from './methods/registry.js';
export type { MethodDefinition } from './methods/method.js';
export * as defaults from './methods/defaults.js';
export type { D2PrunerOptions, RandomOptions, DartOptions, CdprunerOptions, SpatialKernel } from './methods/defaults.js';
export { resolveBudget, resolveGrid } from './core/validate.js';
export { ValidationError } from './core/errors.js';
export { Role, type Selection, type SelectionInput, type Grid, type Tile, type RoleCode, type NumericArray } from './core/types.js';
export { computeFlops, layerFlops, decoderShapeFromConfig, visualTokensFromConfig, modelPresets, flopsDefaults, type DecoderShape, type ModelPreset, type FlopsOptions, type FlopsReport, type FlopsVariant } from './flops.js';
