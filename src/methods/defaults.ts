/**
 * Default options of every method, derived from the registry (each method's defaults sit in its own file,
 * ALGORITHM.md says why they are what they are). All frozen; `select()` merges user options over these.
 *
 * ```ts
 * import { defaults } from 'd2pruner';
 * defaults.d2pruner.threshold;   // 0.8
 * ```
 */
import type { MethodOptionsMap } from '../select.js';
import { methodNames, methods, type MethodName } from './registry.js';

export type { D2PrunerOptions, SpatialKernel } from './d2pruner.js';
export type { RandomOptions } from './random.js';
export type { DartOptions } from './dart.js';
export type { CdprunerOptions } from './cdpruner.js';
export type { NoOptions } from './method.js';

/** Every method's defaults by name. */
export const defaults: { readonly [M in MethodName]: Readonly<MethodOptionsMap[M]> } = Object.freeze(
  Object.fromEntries(methodNames.map((name) => [name, methods[name].defaults])),
) as never;
