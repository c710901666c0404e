import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { attentionRowProvider, callbackProvider, promptRelevanceProvider, scoreImage } from '../../src/importance/provider.js';
import { promptRelevance } from '../../src/importance/promptRelevance.js';
import type { ImportanceContext } from '../../src/importance/types.js';

/** Two prompt rows of length 6; the image of row 1 sits at positions 2, 3 and 5. */
function context(overrides: Partial<ImportanceContext> = {}): ImportanceContext {
  return {
    row: 1,
    image: 0,
    features: Float32Array.from([1, 0, 0, 1, 1, 1]),
    dims: [3, 2],
    textEmbeddings: Float32Array.from([1, 0]),
    textDims: [1, 2],
    inputIds: new BigInt64Array(6),
    tokenPositions: Int32Array.from([2, 3, 5]),
    textPositions: Int32Array.from([0]),
    modelType: 'llava',
    ...overrides,
  };
}

describe('importance providers', () => {
  it('read an attention row at the image positions of the context row, clipped at 0', async () => {
    const rows = Float32Array.from([9, 9, 9, 9, 9, 9, 0.1, 0.2, 0.3, -0.4, 0.5, 0.6]);
    const provider = attentionRowProvider(rows, 6);
    expect(provider.readsText).toBe(false);
    expect(Array.from(await scoreImage(provider, context()))).toEqual([Math.fround(0.3), 0, Math.fround(0.6)]);
  });

  it('give prompt relevance as promptRelevance computes it', async () => {
    const ctx = context();
    expect(promptRelevanceProvider.readsText).toBe(true);
    expect(Array.from(await scoreImage(promptRelevanceProvider, ctx))).toEqual(Array.from(promptRelevance(ctx)));
  });

  it('check what a callback returns', async () => {
    await expect(scoreImage(callbackProvider(() => new Float32Array(2)), context())).rejects.toThrow(ValidationError);
    await expect(scoreImage(callbackProvider(() => [1, 2, 3] as never), context())).rejects.toThrow(/importance: .*Float32Array of length 3 \(row 1, image 0\)/);
    expect(Array.from(await scoreImage(callbackProvider(async () => Float32Array.from([3, 2, 1])), context()))).toEqual([3, 2, 1]);
  });
});
