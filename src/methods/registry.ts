import { cdpruner } from './cdpruner.js';
import { d2pruner } from './d2pruner.js';
import { dart } from './dart.js';
import { divprune } from './divprune.js';
import { fastv } from './fastv.js';
import type { MethodDefinition } from './method.js';
import { random } from './random.js';
import { uniform } from './uniform.js';
import { visionzip } from './visionzip.js';

/** Every selection method by name. Adding a method: one file in src/methods/ and one line here. */
export const methods = Object.freeze({
  d2pruner,
  random,
  uniform,
  fastv,
  divprune,
  dart,
  cdpruner,
  visionzip,
} satisfies Record<string, MethodDefinition<any>>);

export type MethodName = keyof typeof methods;

/** Method names in registry order. */
export const methodNames = Object.freeze(Object.keys(methods)) as readonly MethodName[];

/** True when `name` is a registered method (a type guard for strings from flags or files). */
export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methods, name);
}
