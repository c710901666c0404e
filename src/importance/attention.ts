/**
 * Attention importance: the attention the last prompt token pays to every position, from an exported
 * attention tensor, as one value per position (heads averaged, clipped at 0).
 *
 * Accepted shapes (B prompts, L positions): `[B, L]` (already reduced), `[B, H, L]` (per head), or
 * `[B, H, Lq, L]` (full maps; the last query row is used).
 *
 * @returns B·L values, row-major.
 * @throws Error when the shape is none of these or does not match `batch` and `length`.
 */
export function lastTokenAttention(data: ArrayLike<number>, dims: readonly number[], batch: number, length: number): Float32Array {
  if (dims.length < 2 || dims.length > 4 || dims[0] !== batch || dims.at(-1) !== length) {
    throw new Error(`attention has shape [${dims.join(', ')}], expected [${batch}, L], [${batch}, H, L] or [${batch}, H, Lq, L] with L = ${length}`);
  }
  const out = new Float32Array(batch * length);
  if (dims.length === 2) {
    for (let i = 0; i < out.length; i++) out[i] = data[i]!;
  } else {
    const heads = dims[1]!;
    const queries = dims.length === 4 ? dims[2]! : 1;
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const base = ((b * heads + h) * queries + (queries - 1)) * length;
        for (let j = 0; j < length; j++) out[b * length + j]! += data[base + j]! / heads;
      }
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, out[i]!);
  return out;
}
