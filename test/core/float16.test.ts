import { describe, expect, it } from 'vitest';
import { Tensor } from '@huggingface/transformers';
import {
  float16Bits,
  float16BitsToFloat32,
  float16Storage,
  float16StorageToFloat32,
  float16Value,
  float32ToFloat16Bits,
} from '../../src/core/float16.js';

describe('float32 → float16', () => {
  it('encodes the values Tensor.to("float16") breaks on Node 20 (no Float16Array)', () => {
    const bits = float32ToFloat16Bits(new Float32Array([0.5, -1.25, 3]));
    expect(Array.from(bits)).toEqual([0x3800, 0xbd00, 0x4200]);
    expect(Array.from(float16BitsToFloat32(bits))).toEqual([0.5, -1.25, 3]);
    if (typeof (globalThis as { Float16Array?: unknown }).Float16Array === 'undefined') {
      // The defect this module replaces: Uint16Array.from truncates the numbers instead of encoding them.
      const broken = new Tensor('float32', new Float32Array([0.5, -1.25, 3]), [3]).to('float16').to('float32');
      expect(Array.from(broken.data as Float32Array)).not.toEqual([0.5, -1.25, 3]);
    }
  });

  it('keeps exact halves, signed zeros, ±Infinity and NaN', () => {
    expect(float16Bits(0)).toBe(0);
    expect(float16Bits(-0)).toBe(0x8000);
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(Infinity)).toBe(0x7c00);
    expect(float16Bits(-Infinity)).toBe(0xfc00);
    const nan = float16Bits(NaN);
    expect((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0).toBe(true);
    expect(float16Value(nan)).toBeNaN();
    expect(Object.is(float16Value(0x8000), -0)).toBe(true);
  });

  it('overflows to Infinity only past the rounding boundary 65520', () => {
    expect(float16Bits(65519)).toBe(0x7bff); // below the midpoint between 65504 and 65536
    expect(float16Bits(65520)).toBe(0x7c00); // the tie rounds to even, i.e. up to Infinity
    expect(float16Bits(-1e6)).toBe(0xfc00);
    expect(float16Bits(3.4e38)).toBe(0x7c00);
  });

  it('rounds to nearest, ties to even', () => {
    // Between 1 and 1 + 2⁻¹⁰ the midpoint 1 + 2⁻¹¹ ties to the even 1; 1 + 3·2⁻¹¹ ties up to 1 + 2·2⁻¹⁰.
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the midpoint
    expect(float16Bits(2049)).toBe(0x6800); // 2048 (even) — spacing is 2 here
    expect(float16Bits(2051)).toBe(0x6802); // 2052 (even)
    // A mantissa carry moves to the next exponent.
    expect(float16Value(float16Bits(2047.9))).toBe(2048);
  });

  it('encodes subnormals and flushes below half the smallest one to zero', () => {
    expect(float16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(float16Bits(2 ** -14 - 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(float16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp ties to even 2
    expect(float16Bits(2 ** -25)).toBe(0x0000); // exactly half the smallest: ties to even 0
    expect(float16Bits(2 ** -25 + 2 ** -35)).toBe(0x0001);
    expect(float16Bits(-(2 ** -26))).toBe(0x8000);
    expect(float16Value(0x0001)).toBe(2 ** -24);
    expect(float16Value(0x03ff)).toBe(2 ** -14 - 2 ** -24);
  });

  it('round-trips every half and picks the nearest half for random values (and Math.f16round where the runtime has it)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16Value(bits);
      if (Number.isNaN(value)) continue;
      expect(float16Bits(value)).toBe(bits);
    }
    const f16round = (Math as { f16round?: (x: number) => number }).f16round;
    let seed = 7;
    for (let i = 0; i < 10000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const x = Math.fround((seed / 2 ** 32 - 0.5) * 2 ** ((i % 40) - 24));
      const bits = float16Bits(x);
      if (f16round) expect(float16Value(bits)).toBe(f16round(x));
      // Independent of the runtime: no neighbouring half is closer to x.
      const error = Math.abs(x - float16Value(bits));
      for (const neighbour of [bits - 1, bits + 1]) {
        if ((neighbour & 0x7fff) >= 0x7c00 || neighbour < 0 || (neighbour & 0x8000) !== (bits & 0x8000)) continue;
        expect(error).toBeLessThanOrEqual(Math.abs(x - float16Value(neighbour)));
      }
    }
  });

  it('float16Storage builds what this runtime stores float16 tensors in, and decodes back', () => {
    const values = new Float32Array([0.5, -1.25, 3, 1e-5]);
    const storage = float16Storage(values);
    const tensor = new Tensor('float16', storage as Uint16Array, [4]);
    expect(Array.from(float16StorageToFloat32(tensor.data as Uint16Array))).toEqual(
      Array.from(values, (v) => float16Value(float16Bits(v))),
    );
    // transformers.js's own float16 → float32 path reads the same values.
    expect(Array.from(tensor.to('float32').data as Float32Array)).toEqual(Array.from(float16StorageToFloat32(tensor.data as Uint16Array)));
  });
});
