import { ValidationError } from '../core/errors.js';
import type { Grid, SelectionInput } from '../core/types.js';
import type { SelectOptions } from '../select.js';

/** A parsed case file (ALGORITHM.md, "Case files"): the selection input plus the method and its options. */
export interface SelectionCase {
  input: SelectionInput;
  options: SelectOptions;
}

const CASE_KEYS = new Set(['tokens', 'dim', 'features', 'importance', 'prior', 'grid', 'budget', 'method', 'options']);

/**
 * Decodes a float array of a case file: a plain JSON array of numbers, or `{ dtype: "float32", base64 }`
 * holding little-endian raw bytes.
 * @throws ValidationError naming `field` for a bad dtype, bad base64, a byte count not divisible by 4, or
 *   non-numeric entries.
 */
export function decodeFloatArray(value: unknown, field: string): Float32Array | number[] {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== 'number') throw new ValidationError(`${field}[${i}]`, value[i], 'must be a number');
    }
    return value as number[];
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { dtype, base64 } = value as { dtype?: unknown; base64?: unknown };
    if (dtype !== 'float32') throw new ValidationError(`${field}.dtype`, dtype, 'must be "float32"');
    if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new ValidationError(`${field}.base64`, base64, 'must be standard base64 text');
    }
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length % 4 !== 0) {
      throw new ValidationError(`${field}.base64`, `${bytes.length} bytes`, 'must decode to a multiple of 4 bytes (float32)');
    }
    const out = new Float32Array(bytes.length / 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  throw new ValidationError(field, value, 'must be an array of numbers or { "dtype": "float32", "base64": "..." }');
}

/** Encodes a float array as the case file's `{ dtype: "float32", base64 }` form (little-endian). */
export function encodeFloatArray(values: ArrayLike<number>): { dtype: 'float32'; base64: string } {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i], i * 4);
  return { dtype: 'float32', base64: bytes.toString('base64') };
}

/**
 * Parses the text of a case file into `select()` arguments. Shape and value checks beyond the file format
 * (lengths, finiteness, budget, grid) are left to `select()`, which names the field the same way.
 * @throws ValidationError for malformed JSON or a malformed field.
 */
export function parseCase(text: string): SelectionCase {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ValidationError('case', text.length > 40 ? `${text.slice(0, 37)}...` : text, `is not valid JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ValidationError('case', json, 'must be a JSON object');
  }
  const record = json as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!CASE_KEYS.has(key)) throw new ValidationError(key, record[key], `is not a case-file field (fields: ${[...CASE_KEYS].join(', ')})`);
  }
  const { tokens, dim, budget, method = 'd2pruner', options = {} } = record;
  if (!Number.isInteger(tokens) || (tokens as number) < 1) throw new ValidationError('tokens', tokens, 'must be a positive integer');
  if (!Number.isInteger(dim) || (dim as number) < 1) throw new ValidationError('dim', dim, 'must be a positive integer');
  if (record.features === undefined) throw new ValidationError('features', undefined, 'is required');
  if (typeof method !== 'string') throw new ValidationError('method', method, 'must be a string');
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError('options', options, 'must be an object');
  }
  if ('method' in (options as object)) {
    throw new ValidationError('options.method', (options as { method: unknown }).method, 'belongs at the top level of the case file');
  }
  const input: SelectionInput = {
    features: decodeFloatArray(record.features, 'features'),
    dims: [tokens as number, dim as number],
    budget: budget as number,
  };
  if (record.importance !== undefined) input.importance = decodeFloatArray(record.importance, 'importance');
  if (record.prior !== undefined) input.prior = decodeFloatArray(record.prior, 'prior');
  if (record.grid !== undefined) input.grid = record.grid as Grid;
  return { input, options: { method, ...(options as object) } as SelectOptions };
}
