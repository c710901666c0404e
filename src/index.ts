/**
 * `d2pruner`: the selection core. Pure functions over typed arrays — no Node built-ins, no native modules,
 * no host library — so it bundles for the browser as it runs in Node. Model pipelines live behind their own
 * entries: `d2pruner/transformers` (browser-safe), `d2pruner/node`, `d2pruner/eval`, `d2pruner/testbed`.
 */
export { select, getMethod, validateSelectOptions, type SelectOptions, type MethodOptionsMap } from './select.js';
export { methods, methodNames, isMethodName, type MethodName } from './methods/registry.js';
export type { MethodDefinition } from './methods/method.js';
export { defaults, type D2PrunerOptions, type RandomOptions, type DartOptions, type CdprunerOptions, type SpatialKernel, type NoOptions } from './methods/defaults.js';
export { resolveBudget, resolveGrid } from './core/validate.js';
export { ValidationError } from './core/errors.js';
export { Role, type Selection, type SelectionInput, type Grid, type Tile, type RoleCode, type NumericArray } from './core/types.js';
export { promptRelevance } from './importance/promptRelevance.js';
export { lastTokenAttention } from './importance/attention.js';
export { validatePrior, resizeBilinear, priorForLayout, parsePrior, stringifyPrior, type PositionalPrior, type GridShape, type TileLayout } from './importance/prior.js';
export { describePriorBias, formatPriorBias, type PriorBias } from './importance/prior-bias.js';
export type { ImportanceContext, ImportanceCallback, ImportanceName } from './importance/types.js';
