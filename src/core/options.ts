import { ValidationError } from './errors.js';

/** Checks one option value and returns it (normalised); throws ValidationError naming `field`. */
export type OptionCheck<T> = (value: unknown, field: string) => T;

/** A method's option schema: one check per allowed key. */
export type OptionSchema<O> = { readonly [K in keyof O]-?: OptionCheck<O[K]> };

interface NumberRange {
  min?: number;
  max?: number;
  /** Exclude the bounds themselves. */
  exclusive?: boolean;
  integer?: boolean;
}

/** A finite number (optionally an integer) inside a range. */
export function numberIn(range: NumberRange): OptionCheck<number> {
  const { min = -Infinity, max = Infinity, exclusive = false, integer = false } = range;
  const open = exclusive ? ['(', ')'] : ['[', ']'];
  const describe = `${integer ? 'an integer' : 'a number'} in ${open[0]}${min}, ${max}${open[1]}`;
  return (value, field) => {
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!integer || Number.isInteger(value)) &&
      (exclusive ? value > min && value < max : value >= min && value <= max);
    if (!ok) throw new ValidationError(field, value, `must be ${describe}`);
    return value as number;
  };
}

/**
 * Merges user options over frozen defaults, checking every key against the schema. Unknown keys are rejected
 * so a typo never silently falls back to a default.
 */
export function resolveOptions<O extends object>(
  method: string,
  schema: OptionSchema<O>,
  defaults: Readonly<O>,
  given: Record<string, unknown>,
): O {
  const resolved = { ...defaults } as O;
  for (const [key, value] of Object.entries(given)) {
    if (!Object.prototype.hasOwnProperty.call(schema, key)) {
      const known = Object.keys(schema);
      throw new ValidationError(
        `options.${key}`,
        value,
        `is not an option of method "${method}" (${known.length ? `options: ${known.join(', ')}` : 'it takes no options'})`,
      );
    }
    if (value === undefined) continue;
    (resolved as Record<string, unknown>)[key] = (schema as Record<string, OptionCheck<unknown>>)[key](value, `options.${key}`);
  }
  return resolved;
}
