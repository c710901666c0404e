/**
 * A second turn about one image (ask, answer, ask again) that reuses the pruned cache: generate() gets the
 * returned past_key_values and the whole conversation (the returned sequences, then the new turn's tokens).
 * The reference is a fresh pruned prefill of that conversation that keeps the same tokens (method 'uniform'
 * keeps the same grid cells whatever the prompt): the continuation must give its tokens and logits.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AutoProcessor, LlavaForConditionalGeneration, cat, ones } from '@huggingface/transformers';
import { ValidationError, withTokenPruning } from './api.js';
import { buildInputs, loadFixture, maxAbsDiff, pngImage, recordSessions, type Loaded } from './helpers.js';
import type { FixtureFamily } from '../../fixtures/families.js';

const TESTBED_DIR = fileURLToPath(new URL('../../../models/testbed', import.meta.url));

interface Case {
  name: string;
  load: () => Promise<Loaded>;
  family: FixtureFamily;
  budget: number;
  visual: number;
}

const cases: Case[] = [
  {
    name: 'the shipped testbed model (LLaVA layout, 576 tokens)',
    load: async () => ({
      dir: TESTBED_DIR,
      model: await LlavaForConditionalGeneration.from_pretrained(TESTBED_DIR, { dtype: 'fp32', device: 'cpu' }),
      processor: await AutoProcessor.from_pretrained(TESTBED_DIR),
    }),
    family: 'llava',
    budget: 64,
    visual: 576,
  },
  { name: 'the llava fixture', load: () => loadFixture('llava'), family: 'llava', budget: 9, visual: 36 },
  { name: 'the qwen2_vl fixture (M-RoPE)', load: () => loadFixture('qwen2_vl'), family: 'qwen2_vl', budget: 6, visual: 0 },
];

/** Logits of the last position of a recorded decoder run. */
function lastLogits(call: { outputs: Record<string, { dims: number[]; data: any }> }): Float32Array {
  const { dims, data } = call.outputs.logits!;
  const vocab = dims.at(-1)!;
  return (data as Float32Array).slice(data.length - vocab);
}

describe.each(cases)('a second turn on $name reuses the pruned cache', ({ load, family, budget, visual }) => {
  for (const positions of ['original', 'compact'] as const) {
    it(`continues with ${positions} positions and gives the tokens and logits of a fresh pruned prefill of the whole chat`, async () => {
      const loaded = await load();
      const { model, processor } = loaded;
      const image = (await pngImage(5, 64, 64)).image;
      const first = await buildInputs(loaded, family, [image], 'is there a red circle?');
      const pruned = withTokenPruning(model, { method: 'uniform', budget, positions });
      const turn1 = await pruned.generate({ ...first, max_new_tokens: 3, min_new_tokens: 3, do_sample: false, return_dict_in_generate: true });
      const before = pruned.lastPruning!.before;
      if (visual) expect(before).toBe(visual);
      const prunedLength = pruned.lastPruning!.sequence.after;
      expect(turn1.past_key_values.get_seq_length()).toBe(prunedLength + 2); // the last answer token is not in the cache

      const next = processor.tokenizer(' where is the blue square?', { add_special_tokens: false }).input_ids;
      const conversation = cat([turn1.sequences, next], 1);
      const length = conversation.dims[1];
      const turn2Inputs = { ...first, input_ids: conversation, attention_mask: ones(conversation.dims) };

      const recorder = recordSessions(model, ['decoder_model_merged', 'vision_encoder']);
      let continued: any;
      try {
        continued = await pruned.generate({
          ...turn2Inputs,
          past_key_values: turn1.past_key_values,
          max_new_tokens: 4,
          min_new_tokens: 4,
          do_sample: false,
          return_dict_in_generate: true,
        });
      } finally {
        recorder.restore();
      }
      const calls = recorder.decoderCalls();
      expect(recorder.calls.some((c) => c.session === 'vision_encoder')).toBe(false); // the image is in the cache
      const firstStep = calls[0]!.feeds;
      const pastLength = prunedLength + 2;
      const fresh = length - (pastLength + before - budget);
      expect(fresh).toBe(next.dims[1] + 1); // the new turn plus the answer's last token
      expect(firstStep.inputs_embeds!.dims).toEqual([1, fresh, model.config.text_config?.hidden_size ?? firstStep.inputs_embeds!.dims[2]]);
      expect(firstStep.attention_mask!.dims).toEqual([1, pastLength + fresh]);
      const pos = Array.from(firstStep.position_ids!.data as BigInt64Array, Number);
      const covered = pastLength + before - budget;
      if (family !== 'qwen2_vl') {
        const start = positions === 'original' ? covered : pastLength;
        expect(pos).toEqual(Array.from({ length: fresh }, (_, j) => start + j));
      }

      const reference = withTokenPruning(model, { method: 'uniform', budget, positions });
      const refRecorder = recordSessions(model);
      let fresher: any;
      try {
        fresher = await reference.generate({ ...turn2Inputs, max_new_tokens: 4, min_new_tokens: 4, do_sample: false, return_dict_in_generate: true });
      } finally {
        refRecorder.restore();
      }
      expect(reference.lastPruning!.after).toBe(budget);
      const refCalls = refRecorder.decoderCalls();
      // Same positions for the new tokens as the fresh prefill's last ones (every M-RoPE axis for Qwen).
      const refPos = refCalls[0]!.feeds.position_ids!;
      const refLength = refPos.dims.at(-1)!;
      const axes = refPos.dims.length === 3 ? 3 : 1;
      for (let a = 0; a < axes; a++) {
        const row = Array.from((refPos.data as BigInt64Array).subarray(a * refLength + refLength - fresh, (a + 1) * refLength), Number);
        expect(pos.slice(a * fresh, (a + 1) * fresh)).toEqual(row);
      }
      expect(maxAbsDiff(lastLogits(calls[0]!), lastLogits(refCalls[0]!))).toBeLessThan(1e-4);
      for (let step = 1; step < 4; step++) expect(maxAbsDiff(lastLogits(calls[step]!), lastLogits(refCalls[step]!))).toBeLessThan(1e-4);
      expect(continued.sequences.tolist()).toEqual(fresher.sequences.tolist());
      expect(continued.past_key_values.get_seq_length()).toBe(pastLength + fresh + 3);

      // A third turn continues the second's cache.
      const third = cat([continued.sequences, next], 1);
      const turn3 = await pruned.generate({ input_ids: third, attention_mask: ones(third.dims), past_key_values: continued.past_key_values, max_new_tokens: 2, do_sample: false });
      expect(turn3.dims).toEqual([1, third.dims[1] + 2]);
    });
  }

  it('refuses a conversation that does not start with the cached tokens, or a new image after them', async () => {
    const loaded = await load();
    const { model, processor } = loaded;
    const image = (await pngImage(6, 64, 64)).image;
    const first = await buildInputs(loaded, family, [image], 'is there a red circle?');
    const pruned = withTokenPruning(model, { method: 'uniform', budget });
    const turn1 = await pruned.generate({ ...first, max_new_tokens: 2, do_sample: false, return_dict_in_generate: true });
    const next = processor.tokenizer(' where?', { add_special_tokens: false }).input_ids;
    const changed = cat([turn1.sequences, next], 1);
    const data = changed.data as BigInt64Array;
    const inside = turn1.sequences.dims[1] - 2; // a token inside the cached part (an answer token)
    data[inside] = data[inside]! === 5n ? 6n : 5n;
    const run = (input_ids: any, past_key_values: any) =>
      pruned.generate({ input_ids, attention_mask: ones(input_ids.dims), past_key_values, max_new_tokens: 1 });
    await expect(run(changed, turn1.past_key_values)).rejects.toThrow(ValidationError);
    await expect(run(changed, turn1.past_key_values)).rejects.toThrow(/input_ids.*do not start with the \d+ tokens the pruned cache stands for/);
    const imageId = BigInt((model.config.image_token_index ?? model.config.image_token_id) as number);
    const withImage = cat([turn1.sequences, next], 1);
    (withImage.data as BigInt64Array)[withImage.dims[1] - 1] = imageId;
    await expect(run(withImage, turn1.past_key_values)).rejects.toThrow(/input_ids.*image token \(id \d+\) after the pruned cache/);
    await expect(run(turn1.sequences.slice(null, [0, 3]), turn1.past_key_values)).rejects.toThrow(/input_ids.*whole conversation/);
  });
});

describe('a second turn with layer-K pruning', () => {
  it('refuses a past_key_values before any session runs (field past_key_values)', async () => {
    const loaded = await loadFixture('llava');
    const inputs = await buildInputs(loaded, 'llava', [(await pngImage(7, 64, 48)).image], 'where?');
    const pruned = withTokenPruning(loaded.model, { method: 'uniform', budget: 9, layer: 1 });
    const error = await pruned.generate({ ...inputs, past_key_values: {}, max_new_tokens: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/past_key_values.*layer-K pruning/);
  });
});
