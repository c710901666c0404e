import { describe, expect, it } from 'vitest';
import { withTokenPruning } from './api.js';
import { buildInputs, countSessionRuns, maxAbsDiff, pngImage, recordSessions } from './helpers.js';
import { batchSpec, keptSequence, pipelineSuite } from './suite.js';

const prompt = 'Where is the red circle?';

const llava = pipelineSuite({ family: 'llava', images: async () => [(await pngImage(1, 64, 48)).image], prompt });
pipelineSuite({ family: 'llava_qwen2', images: async () => [(await pngImage(2, 40, 56)).image], prompt });

describe('llava: generate() behaviour', () => {
  it('leaves the original model unpruned beside the pruned one, and unwrap() returns it', async () => {
    const { model } = llava.loaded();
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 9 });
    expect(Object.hasOwn(model, 'forward')).toBe(false);
    expect(pruned.unwrap()).toBe(model);
    const base = await model.forward(llava.inputs());
    const cut = await pruned.forward(llava.inputs());
    expect(cut.logits.dims[1]).toBe(base.logits.dims[1] - 36 + 9);
    const again = await model.forward(llava.inputs());
    expect(again.logits.dims).toEqual(base.logits.dims);
    const other = withTokenPruning(model, { method: 'uniform', budget: 4 });
    await other.forward(llava.inputs());
    expect(other.lastPruning!.after).toBe(4);
    expect(pruned.lastPruning!.after).toBe(9);
  });

  it('streams the same tokens generate() returns', async () => {
    const { model } = llava.loaded();
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 12 });
    const streamed: bigint[] = [];
    let ended = false;
    const streamer = {
      put(ids: bigint[][]) {
        if (ids[0]!.length === 1) streamed.push(ids[0]![0]!);
      },
      end() {
        ended = true;
      },
    };
    const ids = await pruned.generate({ ...llava.inputs(), max_new_tokens: 5, min_new_tokens: 5, do_sample: false, streamer });
    expect(ended).toBe(true);
    expect(streamed).toEqual((ids.tolist()[0] as bigint[]).slice(-5));
  });

  it('samples with do_sample (top-k) over a pruned cache', async () => {
    const { model } = llava.loaded();
    const pruned = withTokenPruning(model, { method: 'random', budget: 0.5, seed: 3 });
    const length = llava.inputs().input_ids.dims[1];
    const ids = await pruned.generate({ ...llava.inputs(), max_new_tokens: 6, min_new_tokens: 6, do_sample: true, top_k: 20, temperature: 0.9 });
    expect(ids.dims).toEqual([1, length + 6]);
    expect(pruned.lastPruning!.after).toBe(18);
  });

  it('applies a calibrated prior resized to the image grid, and a callback importance', async () => {
    const { model } = llava.loaded();
    let seen = 0;
    const prior = { values: [1, 2, 3, 4], grid: { rows: 2, cols: 2 }, provider: 'promptRelevance', prompt: 'x', imageCount: 1, modelId: 'm' };
    const pruned = withTokenPruning(model, {
      method: 'fastv',
      budget: 6,
      prior,
      importance: (ctx) => {
        seen = ctx.dims[0];
        expect(ctx.grid).toEqual({ rows: 6, cols: 6 });
        return Float32Array.from({ length: ctx.dims[0] }, (_, i) => i);
      },
    });
    await pruned.forward(llava.inputs());
    expect(seen).toBe(36);
    // fastv keeps the highest raw importance: the last six tokens.
    expect(Array.from(pruned.lastPruning!.keep)).toEqual([30, 31, 32, 33, 34, 35]);
  });
});

describe('llava: batches', () => {
  batchSpec('llava', llava.loaded, 'llava', async () => [
    { images: [(await pngImage(1, 64, 48)).image], prompt: 'Where is the red circle in this picture?' },
    { images: [(await pngImage(9, 30, 60)).image], prompt: 'Hi' },
  ], 10);
  // One image in the first prompt, two in the second: the rows keep 10 and 20 tokens and are re-padded.
  batchSpec('llava (rows of different pruned lengths)', llava.loaded, 'llava', async () => [
    { images: [(await pngImage(1, 64, 48)).image], prompt: 'Where is the red circle in this picture?' },
    { images: [(await pngImage(9, 30, 60)).image, (await pngImage(10, 50, 50)).image], prompt: 'Hi' },
  ], 10);
});

describe('llava: merging methods', () => {
  it('visionzip sends its merged contextual features in place of the kept rows', async () => {
    const { model } = llava.loaded();
    const recorder = recordSessions(model);
    try {
      await model.forward(llava.inputs());
      const pruned = withTokenPruning(model, { method: 'visionzip', budget: 12 });
      await pruned.forward(llava.inputs());
      const [base, cut] = recorder.decoderCalls();
      const hidden = base!.feeds.inputs_embeds!.dims[2]!;
      const kept = keptSequence(model, llava.inputs(), pruned.lastPruning!);
      const image = new Set(pruned.lastPruning!.images[0]!.tokenPositions);
      let same = 0;
      let merged = 0;
      kept.forEach((p, j) => {
        const a = cut!.feeds.inputs_embeds!.data.subarray(j * hidden, (j + 1) * hidden);
        const b = base!.feeds.inputs_embeds!.data.subarray(p * hidden, (p + 1) * hidden);
        const equal = maxAbsDiff(a, b) === 0;
        if (!image.has(p)) expect(equal).toBe(true);
        else if (equal) same++;
        else merged++;
      });
      // round(54/64 · 12) = 10 dominant tokens pass unchanged; the 2 contextual tokens are target + mean of the tokens merged into it.
      expect(same).toBeGreaterThanOrEqual(10);
      expect(merged).toBeGreaterThan(0);
      expect(same + merged).toBe(12);
    } finally {
      recorder.restore();
    }
  });
});

describe('buildInputs', () => {
  it('expands one image to 36 image tokens on the 24×24 fixture', async () => {
    const { model } = llava.loaded();
    const inputs = await buildInputs(llava.loaded(), 'llava', [(await pngImage(5, 30, 30)).image], 'Hi');
    const imageToken = BigInt(model.config.image_token_index);
    expect(Array.from(inputs.input_ids.data as BigInt64Array).filter((id) => id === imageToken).length).toBe(36);
  });
});
