import { describe, expect, it } from 'vitest';
import { calibratePrior, templateTokenIds, withTokenPruning } from './api.js';
import { buildInputs, loadFixture, maxAbsDiff, pngImage } from './helpers.js';

const prompt = 'Describe the image.';

describe('calibratePrior', () => {
  it('averages the raw prompt relevance per grid position over the images (LLaVA)', async () => {
    const loaded = await loadFixture('llava');
    const inputs = [];
    for (const seed of [11, 12, 13]) inputs.push(await buildInputs(loaded, 'llava', [(await pngImage(seed, 50, 40)).image], prompt));
    let done = 0;
    const prior = await calibratePrior(loaded.model, inputs, { prompt, modelId: 'fixtures/llava', onProgress: (n) => (done = n) });
    expect(done).toBe(3);
    expect(prior).toMatchObject({ grid: { rows: 6, cols: 6 }, provider: 'promptRelevance', prompt, imageCount: 3, modelId: 'fixtures/llava' });
    const expected = new Float32Array(36);
    for (const input of inputs) {
      const pruned = withTokenPruning(loaded.model, { method: 'uniform', budget: 36 });
      await pruned.forward(input);
      pruned.lastPruning!.images[0]!.importance.forEach((v: number, i: number) => (expected[i]! += v / 3));
    }
    expect(maxAbsDiff(prior.values as Float32Array, expected)).toBeLessThan(1e-6);
    expect(Math.max(...prior.values)).toBeGreaterThan(0);
  });

  it('averages every tile and the global view of split images onto one tile grid (Idefics3)', async () => {
    const loaded = await loadFixture('idefics3');
    const input = await buildInputs(loaded, 'idefics3', [(await pngImage(14, 64, 60)).image], prompt);
    const prior = await calibratePrior(loaded.model, [input], { prompt, modelId: 'fixtures/idefics3' });
    expect(prior.grid).toEqual({ rows: 4, cols: 4 });
    const pruned = withTokenPruning(loaded.model, { method: 'uniform', budget: 80 });
    await pruned.forward(input);
    const importance = pruned.lastPruning!.images[0]!.importance as Float32Array;
    const expected = Float32Array.from({ length: 16 }, (_, k) => [0, 1, 2, 3, 4].reduce((s, tile) => s + importance[tile * 16 + k]!, 0) / 5);
    expect(maxAbsDiff(prior.values as Float32Array, expected)).toBeLessThan(1e-6);
  });

  it('rejects a prompt without images and an unsupported model', async () => {
    const loaded = await loadFixture('llava');
    const textOnly = loaded.processor.tokenizer('no image here');
    await expect(calibratePrior(loaded.model, [textOnly], { prompt, modelId: 'x' })).rejects.toThrow(/no image tokens/);
    await expect(calibratePrior({ config: { model_type: 't5' } }, [], { prompt, modelId: 'x' })).rejects.toThrow(/supported/);
  });
});

describe('prompt relevance inside the pipeline', () => {
  it("compares visual tokens with the user's own words only (template and special tokens excluded)", async () => {
    const loaded = await loadFixture('llava');
    const inputs = await buildInputs(loaded, 'llava', [(await pngImage(15, 40, 40)).image], 'red circle');
    const template = new Set(templateTokenIds(loaded.processor).map(BigInt));
    expect(template.size).toBeGreaterThan(3);
    let textIds: bigint[] = [];
    const pruned = withTokenPruning(loaded.model, {
      method: 'fastv',
      budget: 4,
      tokenizer: loaded.processor,
      importance: (ctx) => {
        textIds = Array.from(ctx.textPositions, (p) => ctx.inputIds[p]!);
        return new Float32Array(ctx.dims[0]).fill(1);
      },
    });
    await pruned.forward(inputs);
    const own = Array.from(loaded.processor.tokenizer.encode('red circle', { add_special_tokens: false }) as number[], BigInt);
    expect(textIds.length).toBeGreaterThan(0);
    expect(textIds.every((id) => !template.has(id))).toBe(true);
    expect(textIds.every((id) => own.includes(id))).toBe(true);
  });
});
