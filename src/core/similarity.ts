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

/**
 * For every row, the largest cosine with any other row (−Infinity when N = 1). Each unordered pair is
 * computed once, in 4×4 blocks: every loaded value then feeds four products instead of one, which is what
 * bounds a dot-product loop in JavaScript.
 */
export function nearestCosines(features: Float32Array, tokens: number, dim: number, norms: Float64Array): Float64Array {
  const best = new Float64Array(tokens).fill(-Infinity);
  const block = new Float64Array(16);
  const consider = (i: number, j: number, dot: number) => {
    const denominator = norms[i] * norms[j];
    const cosine = denominator === 0 ? 0 : dot / denominator;
    if (cosine > best[i]) best[i] = cosine;
    if (cosine > best[j]) best[j] = cosine;
  };
  const full = tokens & ~3;
  for (let i = 0; i < full; i += 4) {
    for (let j = i; j < full; j += 4) {
      dotBlock4x4(features, dim, i, j, block);
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) if (j + b > i + a) consider(i + a, j + b, block[a * 4 + b]);
      }
    }
  }
  // Rows past the last full block of four, against everything before them and each other.
  for (let i = full; i < tokens; i++) {
    for (let j = 0; j < i; j++) consider(i, j, rowDot(features, dim, i, j));
  }
  return best;
}

/** Dot products of rows i…i+3 with rows j…j+3, into out[a·4 + b]. */
function dotBlock4x4(features: Float32Array, dim: number, i: number, j: number, out: Float64Array): void {
  const a0 = i * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
  const b0 = j * dim, b1 = b0 + dim, b2 = b1 + dim, b3 = b2 + dim;
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  for (let d = 0; d < dim; d++) {
    const x0 = features[a0 + d], x1 = features[a1 + d], x2 = features[a2 + d], x3 = features[a3 + d];
    const y0 = features[b0 + d], y1 = features[b1 + d], y2 = features[b2 + d], y3 = features[b3 + d];
    s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
    s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
    s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
    s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
  }
  out[0] = s00; out[1] = s01; out[2] = s02; out[3] = s03;
  out[4] = s10; out[5] = s11; out[6] = s12; out[7] = s13;
  out[8] = s20; out[9] = s21; out[10] = s22; out[11] = s23;
  out[12] = s30; out[13] = s31; out[14] = s32; out[15] = s33;
}
