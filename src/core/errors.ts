/** Thrown for any invalid argument; `field` names the offending input or option, `value` is what was given. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${field}: ${reason} (got ${describeValue(value)})`);
  }
}

/** A short, single-line rendering of a bad value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null || typeof value === 'bigint') {
    return String(value);
  }
  if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    const length = (value as ArrayLike<unknown>).length;
    return `${Array.isArray(value) ? 'array' : value.constructor.name} of length ${length}`;
  }
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? json.slice(0, 77) + '...' : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
