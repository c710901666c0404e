import { ValidationError } from './core/errors.js';
import { resolveOptions } from './core/options.js';
import type { Selection, SelectionInput } from './core/types.js';
import { prepareInput } from './core/validate.js';
import type { MethodDefinition } from './methods/method.js';
import { isMethodName, methodNames, methods, type MethodName } from './methods/registry.js';

/** Options of each method, by name (derived from the registry: each method's options live in its file). */
export type MethodOptionsMap = {
  [M in MethodName]: (typeof methods)[M] extends MethodDefinition<infer O> ? O : never;
};

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
 *   are in each method's file (exported together as `defaults`).
 * @returns the Selection: `keep` ascending, `roles` (0 pivot, 1 mis, 2 fill), `scores`, merged `features`.
 * @throws ValidationError naming the field and the bad value for any invalid input or option. Inputs are
 *   never modified.
 */
export function select(input: SelectionInput, options: SelectOptions | { method?: undefined } = { method: 'd2pruner' }): Selection {
  const { method, options: resolved } = validateSelectOptions(options);
  const prepared = prepareInput(input, method.needs(resolved), method.name);
  return method.run(prepared, resolved);
}

/**
 * Checks `{ method, ...methodOptions }` without any input (as {@link select} does first), so that callers
 * that select later — the model adapters at the prefill, the evaluation per case — reject a bad method or
 * option up front.
 *
 * @returns the method and its options merged over the defaults.
 * @throws ValidationError naming `method` or `options.<key>` and the bad value.
 */
export function validateSelectOptions(options: unknown): { method: MethodDefinition<any>; options: Record<string, unknown> } {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { method: name = 'd2pruner', ...given } = options as { method?: unknown } & Record<string, unknown>;
  const method = getMethod(name);
  return { method, options: resolveOptions(method.name, method.schema, method.defaults, given) };
}
