/**
 * IEEE 754 half precision (binary16) without `Float16Array`: Node 20 has none, so transformers.js and
 * onnxruntime store float16 tensors as `Uint16Array` bit patterns there, and copying float32 values into
 * such an array (or `Tensor.to('float16')`, which does `Uint16Array.from(values)`) truncates numbers to
 * integers instead of encoding them. These functions encode and decode the bits. Pure, no host library.
 */

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * The binary16 bit pattern nearest to `value`, rounding to nearest, ties to even (the IEEE default, as
 * `Math.f16round` and hardware conversions do). Overflow past 65504 (after rounding) gives ±Infinity,
 * magnitudes below 2⁻²⁵ give ±0, subnormals are kept, NaN stays NaN (quiet), the sign of zero is kept.
 */
export function float16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: value = significand · 2^(halfExponent − 38), half = significand >> (14 − halfExponent).
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1; // may carry into the smallest normal
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1; // a carry may reach 0x7c00 = Infinity
  return sign | half;
}

/** The number a binary16 bit pattern encodes. */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Encodes every value (see {@link float16Bits}) into a new Uint16Array of bit patterns. */
export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]!);
  return out;
}

/** Decodes binary16 bit patterns into a new Float32Array (exact: every half is a float32). */
export function float16BitsToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]!);
  return out;
}

/**
 * The storage a float16 tensor uses in this runtime for `values`: a `Float16Array` where the runtime has one
 * (transformers.js and onnxruntime pick it then), else the `Uint16Array` of bit patterns they use instead.
 */
export function float16Storage(values: ArrayLike<number>): Uint16Array | ArrayLike<number> {
  const Native = (globalThis as { Float16Array?: { from(values: ArrayLike<number>): ArrayLike<number> } }).Float16Array;
  return Native ? Native.from(values) : float32ToFloat16Bits(values);
}

/** Float32 values of float16 tensor storage: `Uint16Array` bit patterns are decoded, a `Float16Array` copied. */
export function float16StorageToFloat32(data: ArrayLike<number>): Float32Array {
  return data instanceof Uint16Array ? float16BitsToFloat32(data) : Float32Array.from(data);
}
