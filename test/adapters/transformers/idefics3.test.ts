import { describe, expect, it } from 'vitest';
import { withTokenPruning } from './api.js';
import { fixtureInfo } from '../../fixtures/models.js';
import { loadFolder, pngImage, recordSessions, smolvlmFixture } from './helpers.js';
import { keptSequence, pipelineSuite } from './suite.js';

const smol = pipelineSuite({
  family: 'idefics3',
  images: async () => [(await pngImage(6, 64, 60)).image],
  prompt: 'How many squares are there?',
});

describe('idefics3: image splitting', () => {
  it('treats each tile and the global view as its own grid, the budget covering the whole image', async () => {
    const { model } = smol.loaded();
    const inputs = smol.inputs();
    const [rows, cols] = [inputs.rows[0][0], inputs.cols[0][0]];
    expect(rows * cols).toBeGreaterThan(1);
    const seqLen = 16;
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 20, alpha: 0.5 });
    await pruned.forward(inputs);
    const image = pruned.lastPruning!.images[0]!;
    expect(image.before).toBe((rows * cols + 1) * seqLen);
    expect(image.after).toBe(20);
    expect(image.grid).toEqual({
      tiles: Array.from({ length: rows * cols + 1 }, (_, k) => ({ start: k * seqLen, rows: 4, cols: 4 })),
    });
  });

  it('always keeps the row/column and global-image marker tokens', async () => {
    const { model } = smol.loaded();
    const inputs = smol.inputs();
    const recorder = recordSessions(model);
    try {
      const base = await model.forward(inputs);
      const pruned = withTokenPruning(model, { method: 'uniform', budget: 3 });
      await pruned.forward(inputs);
      const [baseCall, prunedCall] = recorder.decoderCalls();
      const ids = Array.from(inputs.input_ids.data as BigInt64Array);
      const imageId = BigInt(model.config.image_token_id);
      const kept = keptSequence(model, inputs, pruned.lastPruning!);
      const keptText = kept.filter((j) => ids[j] !== imageId);
      expect(keptText).toEqual(ids.flatMap((id, j) => (id === imageId ? [] : [j])));
      const special = fixtureInfo('idefics3').specialTokens;
      const markers = ['<fake_token_around_image>', '<global-img>', '<row_1_col_1>', '<row_2_col_2>'].map((t) => BigInt(special[t]!));
      for (const marker of markers) {
        expect(ids.includes(marker)).toBe(true);
        expect(kept.filter((j) => ids[j] === marker).length).toBe(ids.filter((id) => id === marker).length);
      }
      expect(prunedCall!.feeds.inputs_embeds!.dims[1]).toBe(baseCall!.feeds.inputs_embeds!.dims[1]! - 80 + 3);
      expect(base.logits.dims[1]).toBe(ids.length);
    } finally {
      recorder.restore();
    }
  });
});

const smolvlm = pipelineSuite({
  family: 'idefics3',
  name: 'smolvlm',
  load: () => loadFolder(smolvlmFixture()),
  images: async () => [(await pngImage(8, 70, 50)).image],
  prompt: 'Describe the image.',
});

describe('smolvlm', () => {
  it('loads as SmolVLM and prunes through the Idefics3 adapter', () => {
    expect(smolvlm.loaded().model.config.model_type).toBe('smolvlm');
    expect(smolvlm.loaded().model.constructor.name).toBe('SmolVLMForConditionalGeneration');
  });
});
