import type { ImportanceContext } from './types.js';

/**
 * Prompt relevance, the default importance for stock models (which export no attention maps): for each
 * visual token, the mean cosine similarity between its feature and the embeddings of the prompt's own text
 * tokens, clipped at 0. Zero-norm vectors count as cosine 0. With no text token the result is all ones
 * (uninformative: every token equally important).
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
  const { features, textEmbeddings } = ctx;
  const textNorms = new Float64Array(texts);
  for (let t = 0; t < texts; t++) {
    let s = 0;
    for (let k = 0, o = t * dim; k < dim; k++) s += textEmbeddings[o + k]! * textEmbeddings[o + k]!;
    textNorms[t] = Math.sqrt(s);
  }
  for (let i = 0; i < tokens; i++) {
    const fo = i * dim;
    let fnorm = 0;
    for (let k = 0; k < dim; k++) fnorm += features[fo + k]! * features[fo + k]!;
    fnorm = Math.sqrt(fnorm);
    if (fnorm === 0) continue;
    let sum = 0;
    for (let t = 0; t < texts; t++) {
      if (textNorms[t] === 0) continue;
      let dot = 0;
      for (let k = 0, to = t * dim; k < dim; k++) dot += features[fo + k]! * textEmbeddings[to + k]!;
      sum += dot / (fnorm * textNorms[t]!);
    }
    out[i] = Math.max(0, sum / texts);
  }
  return out;
}
