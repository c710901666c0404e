/**
 * Dot products and cosine similarity over row-major float32 feature matrices. Accumulation is in float64
 * (JavaScript numbers), with four independent accumulators so the CPU can overlap the additions.
 */

/** Dot product of rows `i` and `j` of an N×D row-major matrix. */
export function rowDot(features: Float32Array, dim: number, i: number, j: number): number {
  let a = i * dim;
  let b = j * dim;
  const end = a + dim;
  const end4 = a + (dim & ~3);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  while (a < end4) {
    s0 += features[a] * features[b];
    s1 += features[a + 1] * features[b + 1];
    s2 += features[a + 2] * features[b + 2];
    s3 += features[a + 3] * features[b + 3];
    a += 4;
    b += 4;
  }
  while (a < end) s0 += features[a++] * features[b++];
  return s0 + s1 + (s2 + s3);
}

/** Euclidean norm of row `i`. */
export function rowNorm(features: Float32Array, dim: number, i: number): number {
  return Math.sqrt(rowDot(features, dim, i, i));
}

/** Euclidean norm of every row. */
export function rowNorms(features: Float32Array, tokens: number, dim: number): Float64Array {
  const norms = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) norms[i] = rowNorm(features, dim, i);
  return norms;
}

/** cosine(f_i, f_j) = f_i·f_j / (‖f_i‖‖f_j‖), and 0 when either norm is 0 (the contract's convention). */
export function rowCosine(features: Float32Array, dim: number, norms: Float64Array, i: number, j: number): number {
  const denominator = norms[i] * norms[j];
  return denominator === 0 ? 0 : rowDot(features, dim, i, j) / denominator;
}

/** Cosine of row `i` against every row, written into `out` (length N). */
export function cosineRow(
  features: Float32Array,
  tokens: number,
  dim: number,
  norms: Float64Array,
  i: number,
  out: Float64Array,
): Float64Array {
  for (let j = 0; j < tokens; j++) out[j] = rowCosine(features, dim, norms, i, j);
  return out;
}

/** Sum of absolute values of row `i` (L1 norm). */
export function rowL1(features: Float32Array, dim: number, i: number): number {
  let sum = 0;
  for (let k = i * dim, end = k + dim; k < end; k++) sum += Math.abs(features[k]);
  return sum;
}
