import { describe, expect, it } from 'vitest';
import { promptRelevance } from '../../src/importance/promptRelevance.js';

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

  it('gives every token 1 when the prompt has no text token of its own', () => {
    const out = promptRelevance({ features: new Float32Array(6).fill(1), dims: [3, 2], textEmbeddings: new Float32Array(0), textDims: [0, 2] });
    expect(Array.from(out)).toEqual([1, 1, 1]);
  });

  it('rejects text embeddings of another width', () => {
    expect(() => promptRelevance({ features: new Float32Array(4), dims: [2, 2], textEmbeddings: new Float32Array(3), textDims: [1, 3] })).toThrow(/width/);
  });
});
