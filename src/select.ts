import { ValidationError } from './core/errors.js';
import { resolveOptions } from './core/options.js';
import type { Selection, SelectionInput } from './core/types.js';
import { prepareInput } from './core/validate.js';
import type { CdprunerOptions, D2PrunerOptions, DartOptions, NoOptions, RandomOptions } from './methods/defaults.js';
import type { MethodDefinition } from './methods/method.js';
import { isMethodName, methodNames, methods, type MethodName } from './methods/registry.js';

/** Options of each method, by name. */
export interface MethodOptionsMap {
  d2pruner: D2PrunerOptions;
  random: RandomOptions;
  uniform: NoOptions;
  fastv: NoOptions;
  divprune: NoOptions;
  dart: DartOptions;
  cdpruner: CdprunerOptions;
  visionzip: NoOptions;
}

/** `{ method, ...options }` for one method; every option is optional and falls back to its default. */
export type SelectOptions = {
  [M in MethodName]: { method: M } & Partial<MethodOptionsMap[M]>;
}[MethodName];

/** Looks a method up by name. @throws ValidationError naming `method` when it is unknown. */
export function getMethod(name: unknown): MethodDefinition<any> {
  if (!isMethodName(name)) throw new ValidationError('method', name, `must be one of ${methodNames.join(', ')}`);
  return methods[name];
}

/**
 * Selects which visual tokens to keep.
 *
 * @param input features (N×D row-major), dims [N, D], raw importance, optional positional prior and grid, and
 *   the budget (integer n in [1, N] or a fraction in (0, 1) meaning max(1, round(f·N))).
 * @param options `{ method, ...methodOptions }`; `method` defaults to `'d2pruner'`. Defaults for every method
 *   are in `src/methods/defaults.ts` (exported as `defaults`).
 * @returns the Selection: `keep` ascending, `roles` (0 pivot, 1 mis, 2 fill), `scores`, merged `features`.
 * @throws ValidationError naming the field and the bad value for any invalid input or option. Inputs are
 *   never modified.
 */
export function select(input: SelectionInput, options: SelectOptions | { method?: undefined } = { method: 'd2pruner' }): Selection {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { method: name = 'd2pruner', ...given } = options as { method?: unknown } & Record<string, unknown>;
  const method = getMethod(name);
  const resolved = resolveOptions(method.name, method.schema, method.defaults, given);
  const prepared = prepareInput(input, method.needs(resolved), method.name);
  return method.run(prepared, resolved);
}
