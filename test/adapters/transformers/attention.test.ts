import { beforeAll, describe, expect, it } from 'vitest';
import { withTokenPruning } from './api.js';
import { buildInputs, loadFixture, pngImage, type Loaded } from './helpers.js';

/**
 * A decoder that also exports the last prompt token's attention, built around the fixture's session: the
 * real outputs plus `name`, computed from the sequence length by `attention(L)` with shape `dims(L)`.
 */
function withAttentionOutput(model: any, name: string, dims: (L: number) => number[], attention: (L: number) => Float32Array) {
  const original = model.sessions.decoder_model_merged;
  const calls: number[] = [];
  model.sessions.decoder_model_merged = {
    inputNames: original.inputNames,
    outputNames: [...original.outputNames, name],
    inputMetadata: original.inputMetadata,
    outputMetadata: original.outputMetadata,
    async run(feeds: Record<string, any>) {
      const out = await original.run(feeds);
      const L = feeds.inputs_embeds.dims[1];
      calls.push(L);
      out[name] = new out.logits.constructor('float32', attention(L), dims(L));
      return out;
    },
  };
  return { calls, restore: () => (model.sessions.decoder_model_merged = original) };
}

describe("importance: 'attention' from a decoder that exports it", () => {
  let loaded: Loaded;
  let inputs: any;
  beforeAll(async () => {
    loaded = await loadFixture('llava');
    inputs = await buildInputs(loaded, 'llava', [(await pngImage(31, 48, 48)).image], 'Where is the square?');
  });

  it('reads the [B, L] attention of the last prompt token at the image positions', async () => {
    const fake = withAttentionOutput(loaded.model, 'last_token_attention', (L) => [1, L], (L) => Float32Array.from({ length: L }, (_, j) => j));
    try {
      const pruned = withTokenPruning(loaded.model, { method: 'fastv', budget: 4, importance: 'attention' });
      await pruned.forward(inputs);
      const report = pruned.lastPruning!;
      expect(Array.from(report.keep)).toEqual([32, 33, 34, 35]);
      const first = report.images[0]!.tokenPositions[0]!;
      expect(Array.from(report.images[0]!.importance.slice(0, 3))).toEqual([first, first + 1, first + 2]);
      const L = inputs.input_ids.dims[1];
      expect(fake.calls).toEqual([L, L - 32]); // one unpruned pass for the attention, then the pruned prefill
    } finally {
      fake.restore();
    }
  });

  it('averages heads and takes the last query row of a [B, H, Lq, L] output', async () => {
    const fake = withAttentionOutput(
      loaded.model,
      'attentions',
      (L) => [1, 2, L, L],
      (L) => {
        const data = new Float32Array(2 * L * L);
        for (let q = 0; q < L; q++) for (let k = 0; k < L; k++) data[q * L + k] = q === L - 1 ? 2 * (L - k) : k;
        return data; // head 1 all zeros: the mean is (L − k) on the last row
      },
    );
    try {
      const pruned = withTokenPruning(loaded.model, { method: 'fastv', budget: 3, importance: 'attention' });
      await pruned.forward(inputs);
      expect(Array.from(pruned.lastPruning!.keep)).toEqual([0, 1, 2]);
    } finally {
      fake.restore();
    }
  });
});
