/**
 * LLaVA-1.5 (llava-hf/llava-1.5-7b-hf) as transformers.js 4.3.1 handles it, on the `llava_15` mirror
 * (test/fixtures/hub.ts llava15Plan, which cites the config keys): CLIP's CLS + 24×24 = 577 states, CLS dropped by
 * `vision_feature_select_strategy: "default"` inside the exported vision encoder (576 feature rows), and a
 * processor that writes `floor(336/14)² + num_additional_image_tokens` = 577 `<image>` tokens because it never
 * reads the strategy. As shipped the export cannot run in transformers.js 4.3.1, pruned or not; with
 * `num_additional_image_tokens: 0` the prompt holds the 576 tokens the features fill, and pruning works.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AutoProcessor, env } from '@huggingface/transformers';
import { chatInputs } from '../../../src/adapters/transformers/prompt.js';
import { loadVisionLanguageModel, readChatTemplateFile, type LoadedVisionLanguageModel } from '../../../src/adapters/transformers/load.js';
import { withTokenPruning } from '../../../src/adapters/transformers/index.js';
import { ensureFixtureModel } from '../../fixtures/models.js';
import { pngImage } from './helpers.js';

env.allowRemoteModels = false;

function imageTokenCount(inputs: any, imageTokenId: number): number {
  return Array.from(inputs.input_ids.data as BigInt64Array, Number).filter((t) => t === imageTokenId).length;
}

describe('LLaVA-1.5 mirror (CLS + 24×24 = 577, strategy "default", num_additional_image_tokens 1)', () => {
  let loaded: LoadedVisionLanguageModel;
  /** The same processor with `num_additional_image_tokens: 0`: the prompt gets 24·24 = 576 tokens. */
  let fixedProcessor: any;
  let imageTokenId: number;
  let image: any;
  beforeAll(async () => {
    const dir = ensureFixtureModel('llava_15');
    loaded = await loadVisionLanguageModel(dir);
    imageTokenId = loaded.model.config.image_token_index;
    fixedProcessor = await AutoProcessor.from_pretrained(dir);
    fixedProcessor.chat_template = readChatTemplateFile(dir);
    fixedProcessor.config = { ...fixedProcessor.config, num_additional_image_tokens: 0 };
    image = (await pngImage(11, 500, 400)).image;
  });

  it("renders llava-1.5's USER/ASSISTANT prompt from chat_template.json and expands <image> to 577 tokens, ignoring the strategy", async () => {
    expect(loaded.processor.tokenizer.chat_template ?? null).toBeNull();
    expect(loaded.processor.config).toMatchObject({ patch_size: 14, num_additional_image_tokens: 1, vision_feature_select_strategy: 'default' });
    const inputs = await chatInputs(loaded.processor, 'llava', image, 'Describe it.');
    expect(inputs.pixel_values.dims).toEqual([1, 3, 336, 336]);
    // Python transformers would write 24·24 + 1 − 1 = 576 here; transformers.js 4.3.1 writes 24·24 + 1.
    expect(imageTokenCount(inputs, imageTokenId)).toBe(577);
    const text = loaded.processor.tokenizer.decode(Array.from(inputs.input_ids.data as BigInt64Array, Number));
    expect(text).toBe(`USER: ${'<image>'.repeat(577)}\nDescribe it. ASSISTANT:`);
  });

  it('cannot run as shipped: the vision encoder gives 576 rows for 577 tokens, unpruned and pruned alike', async () => {
    const inputs = await chatInputs(loaded.processor, 'llava', image, 'Describe it.');
    const features = await loaded.model.encode_image({ pixel_values: inputs.pixel_values });
    expect(features.dims.slice(0, 2)).toEqual([1, 576]);
    await expect(loaded.model.generate({ ...inputs, max_new_tokens: 1 })).rejects.toThrow(
      'Number of tokens and features do not match: tokens: 577, features 576',
    );
    const pruned = withTokenPruning(loaded.model, { method: 'd2pruner', budget: 64 });
    await expect(pruned.generate({ ...inputs, max_new_tokens: 1 })).rejects.toThrow(/577.*576/);
    expect(pruned.lastPruning).toBeNull();
  });

  it('with num_additional_image_tokens 0 the 576 visual tokens form one 24×24 grid and exactly the budget is kept', async () => {
    const inputs = await chatInputs(fixedProcessor, 'llava', image, 'Describe it.');
    const length = inputs.input_ids.dims[1];
    expect(imageTokenCount(inputs, imageTokenId)).toBe(576);
    for (const budget of [64, 100]) {
      const pruned = withTokenPruning(loaded.model, { method: 'd2pruner', budget });
      await pruned.generate({ ...inputs, max_new_tokens: 1 });
      const report = pruned.lastPruning!;
      expect(report.before).toBe(576);
      expect(report.images[0]!.before).toBe(576);
      expect(report.images[0]!.grid).toEqual({ rows: 24, cols: 24 });
      expect(report.after).toBe(budget);
      expect(report.keep.length).toBe(budget);
      expect(report.sequence).toEqual({ before: length, after: length - 576 + budget });
    }
  });

  it('generate() with budget = all 576 tokens gives the same tokens as the unpruned model', async () => {
    const inputs = await chatInputs(fixedProcessor, 'llava', image, 'Describe it.');
    const settings = { max_new_tokens: 8, min_new_tokens: 8, do_sample: false };
    const base = await loaded.model.generate({ ...inputs, ...settings });
    const pruned = withTokenPruning(loaded.model, { method: 'd2pruner', budget: 576 });
    const out = await pruned.generate({ ...inputs, ...settings });
    expect(pruned.lastPruning!.after).toBe(576);
    expect(out.dims).toEqual([1, inputs.input_ids.dims[1] + 8]);
    expect(Array.from(out.data as BigInt64Array)).toEqual(Array.from(base.data as BigInt64Array));
  });
});
