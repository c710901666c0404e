import { describe, expect, it } from 'vitest';
import { withTokenPruning } from './api.js';
import { loadFolder, positionRows, pngImage, qwen25Fixture, recordSessions } from './helpers.js';
import { batchSpec, keptSequence, pipelineSuite } from './suite.js';

const qwen = pipelineSuite({
  family: 'qwen2_vl',
  images: async () => [(await pngImage(3, 56, 40)).image],
  prompt: 'What colour is the square?',
});

describe('qwen2_vl: batches', () => {
  // Same-size images: the fixture's vision encoder lays every patch out on the first image's grid, so images
  // of another size would get other features in a batch than alone (a fixture shortcut, not the model's).
  batchSpec('qwen2_vl', qwen.loaded, 'qwen2_vl', async () => [
    { images: [(await pngImage(3, 56, 40)).image], prompt: 'What colour is the square in the corner?' },
    { images: [(await pngImage(4, 56, 40)).image], prompt: 'Hi' },
  ], 0.5);
});

describe('qwen2_vl: M-RoPE', () => {
  for (const budget of [5, 0.5]) {
    it(`keeps the original (t, h, w) positions of the kept visual tokens (budget ${budget})`, async () => {
      const { model } = qwen.loaded();
      const inputs = qwen.inputs();
      const [t, gh, gw] = Array.from(inputs.image_grid_thw.data as BigInt64Array, Number) as [number, number, number];
      const merge = model.config.vision_config.spatial_merge_size;
      const [rows, cols] = [gh / merge, gw / merge];
      expect(t).toBe(1);
      const recorder = recordSessions(model);
      try {
        const pruned = withTokenPruning(model, { method: 'd2pruner', budget });
        await pruned.generate({ ...inputs, max_new_tokens: 3, min_new_tokens: 3, do_sample: false });
        const report = pruned.lastPruning!;
        expect(report.images[0]!.grid).toEqual({ rows, cols });
        const [prefill] = recorder.decoderCalls();
        const positions = positionRows(prefill!.feeds.position_ids!);
        expect(prefill!.feeds.position_ids!.dims).toEqual([3, 1, report.sequence.after]);
        const kept = keptSequence(model, inputs, report);
        const ids = inputs.input_ids.data as BigInt64Array;
        const visionStart = ids.indexOf(BigInt(model.config.vision_start_token_id));
        const offset = BigInt(visionStart + 1); // the text before the image is plain 1-D
        const imageStart = report.images[0]!.tokenPositions[0]!;
        report.images[0]!.keep.forEach((g: number) => {
          const j = kept.indexOf(imageStart + g);
          const row = BigInt(Math.floor(g / cols));
          const col = BigInt(g % cols);
          expect([positions[0]![j], positions[1]![j], positions[2]![j]]).toEqual([offset, offset + row, offset + col]);
        });
        // The text after the image keeps its original positions: it starts after max(h, w) of the grid.
        const lastText = kept.length - 1;
        const textStart = offset + BigInt(Math.max(rows, cols));
        const tokensAfterImage = ids.length - (imageStart + report.images[0]!.before);
        expect(positions[0]![lastText]).toBe(textStart + BigInt(tokensAfterImage - 1));
        // rope_deltas was shifted so that decoding continues right after the last prompt position.
        const decode = recorder.decoderCalls()[1]!;
        expect(positionRows(decode.feeds.position_ids!).map((a) => a[0])).toEqual([1, 2, 3].map(() => positions[0]![lastText]! + 1n));
      } finally {
        recorder.restore();
      }
    });
  }

  it('compact positions renumber all three axes 0…L′−1 and decoding continues at L′', async () => {
    const { model } = qwen.loaded();
    const recorder = recordSessions(model);
    try {
      const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 6, positions: 'compact' });
      await pruned.generate({ ...qwen.inputs(), max_new_tokens: 2, min_new_tokens: 2, do_sample: false });
      const [prefill, decode] = recorder.decoderCalls();
      const length = pruned.lastPruning!.sequence.after;
      const expected = Array.from({ length }, (_, j) => BigInt(j));
      expect(positionRows(prefill!.feeds.position_ids!)).toEqual([expected, expected, expected]);
      expect(positionRows(decode!.feeds.position_ids!)).toEqual([[BigInt(length)], [BigInt(length)], [BigInt(length)]]);
    } finally {
      recorder.restore();
    }
  });

  it('images of another size get their own grid', async () => {
    const { model, processor } = qwen.loaded();
    const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Hi' }] }], {
      add_generation_prompt: true,
    });
    const inputs = await processor(text, (await pngImage(4, 40, 88)).image);
    const [, gh, gw] = Array.from(inputs.image_grid_thw.data as BigInt64Array, Number) as number[];
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 0.5, alpha: 0.5 });
    await pruned.forward(inputs);
    expect(pruned.lastPruning!.images[0]!.grid).toEqual({ rows: gh! / 2, cols: gw! / 2 });
    expect(pruned.lastPruning!.before).toBe((gh! * gw!) / 4);
  });
});

const qwen25 = pipelineSuite({
  family: 'qwen2_vl',
  name: 'qwen2_5_vl',
  load: () => loadFolder(qwen25Fixture()),
  images: async () => [(await pngImage(7, 48, 64)).image],
  prompt: 'Is there a blue square?',
});

describe('qwen2_5_vl', () => {
  it('loads as Qwen2.5-VL (vision input image_grid_thw) and prunes through the same adapter', async () => {
    const { model } = qwen25.loaded();
    expect(model.config.model_type).toBe('qwen2_5_vl');
    expect(model.sessions.vision_encoder.inputNames).toContain('image_grid_thw');
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 0.5 });
    await pruned.generate({ ...qwen25.inputs(), max_new_tokens: 2, do_sample: false });
    expect(pruned.lastPruning!.after).toBe(Math.round(pruned.lastPruning!.before / 2));
  });
});
