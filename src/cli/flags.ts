import { ValidationError } from '../core/errors.js';
import { isMethodName, methodNames } from '../methods/registry.js';

/** Parsers for command-line flag values, shared by every command; errors name the flag and the text given. */

/** A finite number. */
export function numberFlag(text: string, flag: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new ValidationError(flag, text, 'must be a number');
  return value;
}

/** An integer ≥ `min` (default 1). */
export function integerFlag(text: string, flag: string, min = 1): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new ValidationError(flag, text, `must be an integer ≥ ${min}`);
  return value;
}

/**
 * A budget: an integer ≥ 1 or a fraction in (0, 1). Whether an integer fits the token count is checked later,
 * where the count is known.
 */
export function budgetFlag(text: string, flag = '--budget'): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value) || value <= 0 || (value >= 1 && !Number.isInteger(value))) {
    throw new ValidationError(flag, text, 'must be an integer ≥ 1 or a fraction in (0, 1)');
  }
  return value;
}

/** A selection method name, or `none` (no pruning) when `allowNone`. */
export function methodFlag(text: string, flag = '--method', { allowNone = false } = {}): string {
  if ((allowNone && text === 'none') || isMethodName(text)) return text;
  throw new ValidationError(flag, text, `must be one of ${methodNames.join(', ')}${allowNone ? ', none' : ''}`);
}
