import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { calibratePrior } from '../../src/adapters/transformers/calibrate.js';
import { withTokenPruning } from '../../src/adapters/transformers/index.js';
import { decoderFile, loadVisionLanguageModel, promptInputs } from '../../src/adapters/transformers/load.js';
import { generateScene, IMAGE_SIZE } from '../../src/testbed/generate.js';
import { ValidationError } from '../../src/core/errors.js';

const MODEL_DIR = process.env.TESTBED_MODEL ?? fileURLToPath(new URL('../../models/testbed', import.meta.url));

describe.skipIf(!existsSync(`${MODEL_DIR}/config.json`))('layer-K positional prior of the testbed model (calibratePrior with layer)', () => {
  it('averages the layer K−1 attention of the last prompt token per grid position', async () => {
    const loaded = await loadVisionLanguageModel(MODEL_DIR);
    const decoder = decoderFile(loaded);
    const inputs = [];
    const single: Float32Array[] = [];
    const pruned: any = withTokenPruning(loaded.model, { method: 'fastv', budget: 64, layer: 2, decoder });
    for (let i = 0; i < 3; i++) {
      const { scene } = generateScene(5000, i, 1);
      const encoded = await promptInputs(loaded, new loaded.transformers.RawImage(new Uint8ClampedArray(scene.rgb), IMAGE_SIZE, IMAGE_SIZE, 3), 'what is there?');
      inputs.push(encoded);
      await pruned.forward({ ...encoded });
      single.push(pruned.lastPruning.images[0].importance);
    }
    const prior = await calibratePrior(loaded.model, inputs, { prompt: 'what is there?', modelId: 'testbed', layer: 2, decoder });
    expect(prior.grid).toEqual({ rows: 24, cols: 24 });
    expect(prior.imageCount).toBe(3);
    expect(prior.provider).toBe('attention@layer1');
    for (const k of [0, 100, 575]) expect(prior.values[k]).toBeCloseTo((single[0]![k]! + single[1]![k]! + single[2]![k]!) / 3, 6);
    await expect(calibratePrior(loaded.model, [], { prompt: 'p', modelId: 'm', layer: 2, decoder })).rejects.toThrow(ValidationError);
    await expect(calibratePrior(loaded.model, inputs, { prompt: 'p', modelId: 'm', layer: 2, decoder, importance: 'promptRelevance' })).rejects.toThrow(/importance/);
  });
});
