import { describe, expect, it } from 'vitest';
import { setKernelBackend } from '../../src/core/kernels.js';
import { mulberry32 } from '../../src/core/random.js';
import { promptRelevance } from '../../src/importance/promptRelevance.js';

/** The definition, term by term: mean over text tokens of cosine(f_i, e_t), zero norms giving 0, clipped at 0. */
function directRelevance(features: Float32Array, tokens: number, text: Float32Array, texts: number, dim: number): number[] {
  const norm = (a: Float32Array, o: number) => Math.sqrt(a.subarray(o, o + dim).reduce((s, v) => s + v * v, 0));
  return Array.from({ length: tokens }, (_, i) => {
    let sum = 0;
    for (let t = 0; t < texts; t++) {
      const denominator = norm(features, i * dim) * norm(text, t * dim);
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += features[i * dim + k]! * text[t * dim + k]!;
      sum += denominator === 0 ? 0 : dot / denominator;
    }
    return Math.max(0, sum / texts);
  });
}

describe('promptRelevance', () => {
  it('is the mean cosine to the text embeddings, clipped at 0', () => {
    const features = new Float32Array([1, 0, 0, 1, -1, 0, 0, 0]);
    const text = new Float32Array([2, 0, 1, 1]);
    const out = promptRelevance({ features, dims: [4, 2], textEmbeddings: text, textDims: [2, 2] });
    const c = Math.SQRT1_2;
    expect(out[0]).toBeCloseTo((1 + c) / 2, 6);
    expect(out[1]).toBeCloseTo((0 + c) / 2, 6);
    expect(out[2]).toBe(0); // mean cosine (−1 − c)/2 < 0 → 0
    expect(out[3]).toBe(0); // zero feature
  });

  it('does not depend on the scale of features or text', () => {
    const features = new Float32Array([1, 2, 3, -1, 0.5, 2]);
    const text = new Float32Array([0.3, 1, -2]);
    const a = promptRelevance({ features, dims: [2, 3], textEmbeddings: text, textDims: [1, 3] });
    const b = promptRelevance({ features: features.map((v) => v * 7), dims: [2, 3], textEmbeddings: text.map((v) => v * 0.1), textDims: [1, 3] });
    expect(Array.from(b).map((v, i) => Math.abs(v - a[i]!) < 1e-6)).toEqual([true, true]);
  });

  it('equals the term-by-term mean of cosines (one-pass form) with repeated, zero and scaled text rows', () => {
    const next = mulberry32(11);
    for (const [tokens, texts, dim] of [[50, 7, 33], [9, 1, 4], [64, 20, 129], [5, 3, 1]] as const) {
      const features = Float32Array.from({ length: tokens * dim }, () => next() - 0.5);
      features.fill(0, 0, dim); // a zero feature row
      const text = Float32Array.from({ length: texts * dim }, () => next() - 0.3);
      if (texts > 2) {
        text.copyWithin(dim, 0, dim); // a repeated token
        text.fill(0, 2 * dim, 3 * dim); // a zero embedding still counts in the mean
      }
      const fast = promptRelevance({ features, dims: [tokens, dim], textEmbeddings: text, textDims: [texts, dim] });
      const direct = directRelevance(features, tokens, text, texts, dim);
      expect(fast[0]).toBe(0);
      expect(Math.max(...direct.map((v, i) => Math.abs(v - fast[i]!)))).toBeLessThan(1e-6);
      expect(direct.some((v) => v > 0.05)).toBe(true);
    }
  });

  it('gives the same values on the WebAssembly and the JS kernel path', () => {
    const next = mulberry32(5);
    const [tokens, texts, dim] = [300, 9, 131];
    const features = Float32Array.from({ length: tokens * dim }, () => next() - 0.5);
    const text = Float32Array.from({ length: texts * dim }, () => next() - 0.4);
    const run = (backend: 'wasm' | 'js') => {
      const previous = setKernelBackend(backend);
      try {
        return Array.from(promptRelevance({ features, dims: [tokens, dim], textEmbeddings: text, textDims: [texts, dim] }));
      } finally {
        setKernelBackend(previous);
      }
    };
    const wasm = run('wasm');
    expect(wasm).toEqual(run('js'));
    expect(wasm.some((v) => v > 0)).toBe(true);
  });

  it('gives every token 1 when the prompt has no text token of its own', () => {
    const out = promptRelevance({ features: new Float32Array(6).fill(1), dims: [3, 2], textEmbeddings: new Float32Array(0), textDims: [0, 2] });
    expect(Array.from(out)).toEqual([1, 1, 1]);
  });

  it('rejects text embeddings of another width', () => {
    expect(() => promptRelevance({ features: new Float32Array(4), dims: [2, 2], textEmbeddings: new Float32Array(3), textDims: [1, 3] })).toThrow(/width/);
  });
});
