import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { env, AutoProcessor, RawImage } from '@huggingface/transformers';
import { SplitDecoderModel } from '../../src/testbed/split-decoder.js';
import { calibrateLayerPrior } from '../../src/testbed/prior.js';
import { generateScene, IMAGE_SIZE } from '../../src/testbed/generate.js';
import { ValidationError } from '../../src/core/errors.js';

const MODEL_DIR = process.env.TESTBED_MODEL ?? fileURLToPath(new URL('../../models/testbed', import.meta.url));
env.allowRemoteModels = false;

// models/testbed is part of the repository: when it is missing these tests fail rather than skip.
describe('layer-K positional prior of the testbed model', () => {
  it('averages the layer K−1 attention of the last prompt token per grid position', async () => {
    const split = await SplitDecoderModel.load(MODEL_DIR);
    const processor: any = await AutoProcessor.from_pretrained(MODEL_DIR);
    const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'what is there?' }] }], {
      tokenize: false,
      add_generation_prompt: true,
    });
    const inputs = [];
    const single: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      const { scene } = generateScene(5000, i, 1);
      const encoded = await processor(new RawImage(new Uint8ClampedArray(scene.rgb), IMAGE_SIZE, IMAGE_SIZE, 3), text);
      inputs.push({ inputIds: encoded.input_ids.data, pixelValues: encoded.pixel_values });
      single.push((await split.prefill(encoded.input_ids.data, encoded.pixel_values)).importance);
    }
    const prior = await calibrateLayerPrior(split, inputs, { prompt: 'what is there?', modelId: 'testbed' });
    expect(prior.grid).toEqual({ rows: 24, cols: 24 });
    expect(prior.imageCount).toBe(3);
    expect(prior.provider).toBe('attention@layer1');
    for (const k of [0, 100, 575]) expect(prior.values[k]).toBeCloseTo((single[0]![k]! + single[1]![k]! + single[2]![k]!) / 3, 6);
    await expect(calibrateLayerPrior(split, [], { prompt: 'p', modelId: 'm' })).rejects.toThrow(ValidationError);
  });
});
