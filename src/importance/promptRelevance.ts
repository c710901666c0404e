import type { ImportanceContext } from './types.js';

/**
 * Prompt relevance, the default importance for stock models (which export no attention maps): for each
 * visual token, the mean cosine similarity between its feature and the embeddings of the prompt's own text
 * tokens, clipped at 0. Zero-norm vectors count as cosine 0. With no text token the result is all ones
 * (uninformative: every token equally important).
 *
 * Computed in one pass over the features: the mean of cosines is linear in the unit text vectors,
 * mean_t cos(f, e_t) = (f · ū) / ‖f‖ with ū = mean_t e_t / ‖e_t‖ (zero-norm e_t contribute 0 to ū but still
 * count in the mean), so each token costs one dot product of length D instead of T (the O(T·D) query is
 * built once, in float64). Repeated text tokens weigh as often as they occur, as in the mean of cosines.
 *
 * @returns Float32Array of length N, every value in [0, 1].
 */
export function promptRelevance(ctx: Pick<ImportanceContext, 'features' | 'dims' | 'textEmbeddings' | 'textDims'>): Float32Array {
  const [tokens, dim] = ctx.dims;
  const [texts, textDim] = ctx.textDims;
  const out = new Float32Array(tokens);
  if (texts === 0) return out.fill(1);
  if (textDim !== dim) {
    throw new Error(`promptRelevance: feature width ${dim} differs from the text embedding width ${textDim}`);
  }
  const query = meanUnitVector(ctx.textEmbeddings, texts, dim);
  const { features } = ctx;
  const end4 = dim & ~3;
  for (let i = 0; i < tokens; i++) {
    const fo = i * dim;
    // Four independent accumulators for each sum, so the additions overlap.
    let n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    let k = 0;
    for (; k < end4; k += 4) {
      const a = features[fo + k]!, b = features[fo + k + 1]!, c = features[fo + k + 2]!, d = features[fo + k + 3]!;
      n0 += a * a; n1 += b * b; n2 += c * c; n3 += d * d;
      d0 += a * query[k]!; d1 += b * query[k + 1]!; d2 += c * query[k + 2]!; d3 += d * query[k + 3]!;
    }
    for (; k < dim; k++) {
      const a = features[fo + k]!;
      n0 += a * a;
      d0 += a * query[k]!;
    }
    const norm = Math.sqrt(n0 + n1 + (n2 + n3));
    if (norm === 0) continue;
    out[i] = Math.max(0, (d0 + d1 + (d2 + d3)) / norm);
  }
  return out;
}

/** (1/T) Σ_t e_t / ‖e_t‖ over the T rows of `rows` (zero rows add nothing), in float64. */
function meanUnitVector(rows: Float32Array, texts: number, dim: number): Float64Array {
  const query = new Float64Array(dim);
  for (let t = 0; t < texts; t++) {
    const o = t * dim;
    let s = 0;
    for (let k = 0; k < dim; k++) s += rows[o + k]! * rows[o + k]!;
    if (s === 0) continue;
    const scale = 1 / (Math.sqrt(s) * texts);
    for (let k = 0; k < dim; k++) query[k] += rows[o + k]! * scale;
  }
  return query;
}
