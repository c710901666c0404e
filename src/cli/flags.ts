import { ValidationError } from '../core/errors.js';
import { isMethodName, methodNames } from '../methods/registry.js';

/** Parsers for command-line flag values, shared by every command; errors name the flag and the text given. */

/**
 * Plain decimal notation only (`64`, `0.25`, `.5`, `1e3`): `Number()` alone also reads `0x10` as 16,
 * `0b11` as 3 and `''` as 0.
 */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** The number written in `text`, or NaN when it is not plain decimal notation. */
export function parseDecimal(text: string): number {
  return typeof text === 'string' && DECIMAL.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

/** A finite number. */
export function numberFlag(text: string, flag: string): number {
  const value = parseDecimal(text);
  if (!Number.isFinite(value)) throw new ValidationError(flag, text, 'must be a number');
  return value;
}

/** An integer ≥ `min` (default 1). */
export function integerFlag(text: string, flag: string, min = 1): number {
  const value = parseDecimal(text);
  if (!Number.isSafeInteger(value) || value < min) throw new ValidationError(flag, text, `must be an integer ≥ ${min}`);
  return value;
}

/**
 * A budget: an integer ≥ 1 or a fraction in (0, 1). Whether an integer fits the token count is checked later,
 * where the count is known.
 */
export function budgetFlag(text: string, flag = '--budget'): number {
  const value = parseDecimal(text);
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

/** The dtypes `--dtype` accepts (transformers.js's names; each maps to an `onnx/<session><suffix>.onnx` file). */
export const DTYPE_FLAG_VALUES: readonly string[] = Object.freeze(['fp32', 'fp16', 'q8', 'q4', 'q4f16']);
/** Help text of `--dtype` (generate, eval, visualize, calibrate). */
export const DTYPE_HELP =
  'session precision: fp32, fp16, q8, q4 or q4f16, or per session, e.g. vision_encoder=fp16,decoder_model_merged=q4 ' +
  "(default: config.json's transformers.js_config.dtype, else the smallest file present)";
/** The sessions `--dtype session=dtype` can name. */
export const DTYPE_FLAG_SESSIONS: readonly string[] = Object.freeze(['vision_encoder', 'embed_tokens', 'decoder_model_merged']);

/**
 * `--dtype`: one dtype for every session (`q4`), or per session, comma-separated
 * (`vision_encoder=fp16,decoder_model_merged=q4`; sessions left out get the model's own choice).
 * Returns what `loadVisionLanguageModel`'s `dtype` option takes.
 */
export function dtypeFlag(text: string, flag = '--dtype'): string | Record<string, string> {
  const allowed = `one of ${DTYPE_FLAG_VALUES.join(', ')}, or session=dtype pairs (${DTYPE_FLAG_SESSIONS.join(', ')}) separated by commas`;
  if (typeof text !== 'string' || text.trim() === '') throw new ValidationError(flag, text, `must be ${allowed}`);
  if (!text.includes('=')) {
    if (!DTYPE_FLAG_VALUES.includes(text.trim())) throw new ValidationError(flag, text, `must be ${allowed}`);
    return text.trim();
  }
  const perSession: Record<string, string> = {};
  for (const part of text.split(',')) {
    const [session, dtype, extra] = part.split('=').map((s) => s.trim());
    if (extra !== undefined || !session || !DTYPE_FLAG_SESSIONS.includes(session) || !dtype || !DTYPE_FLAG_VALUES.includes(dtype)) {
      throw new ValidationError(flag, text, `"${part}" is not session=dtype; must be ${allowed}`);
    }
    if (session in perSession) throw new ValidationError(flag, text, `names ${session} twice`);
    perSession[session] = dtype;
  }
  return perSession;
}
