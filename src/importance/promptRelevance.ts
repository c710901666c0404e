import { rowStats } from '../core/kernels.js';
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
 * built once, in float64). Repeated text tokens weigh as often as they occur, as in the mean of cosines. The
 * sums come from kernels.ts's rowStats (WebAssembly SIMD where available; same numbers on the JS path).
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
  const { sumSquares, dots } = rowStats(ctx.features, tokens, dim, query);
  for (let i = 0; i < tokens; i++) {
    const norm = Math.sqrt(sumSquares[i]!);
    if (norm !== 0) out[i] = Math.max(0, dots![i]! / norm);
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
