import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { env, AutoProcessor, AutoTokenizer, LlavaForConditionalGeneration, RawImage } from '@huggingface/transformers';
import { withTokenPruning } from '../../src/adapters/transformers/index.js';
import { generateScene, IMAGE_SIZE } from '../../src/testbed/generate.js';

// The shipped model (testbed/export.py writes it); TESTBED_MODEL points elsewhere while developing an export.
const MODEL_DIR = process.env.TESTBED_MODEL ?? fileURLToPath(new URL('../../models/testbed', import.meta.url));

env.allowRemoteModels = false;

/** A generated scene as a RawImage plus its questions. */
function sceneImage(seed: number, index: number, questions: number) {
  const { scene, cases } = generateScene(seed, index, questions);
  const rgba = new Uint8ClampedArray(IMAGE_SIZE * IMAGE_SIZE * 3);
  rgba.set(scene.rgb);
  return { image: new RawImage(rgba, IMAGE_SIZE, IMAGE_SIZE, 3), cases };
}

async function promptInputs(processor: any, image: RawImage, prompt: string) {
  const text = processor.tokenizer.apply_chat_template(
    [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: prompt }] }],
    { tokenize: false, add_generation_prompt: true },
  );
  return processor(image, text);
}

// models/testbed is part of the repository: when it is missing these tests fail rather than skip.
describe('testbed model export (transformers.js LLaVA layout)', () => {
  let processor: any;
  let model: any;

  beforeAll(async () => {
    processor = await AutoProcessor.from_pretrained(MODEL_DIR);
    model = await LlavaForConditionalGeneration.from_pretrained(MODEL_DIR, { dtype: 'fp32' });
  });

  it('has a word-level tokenizer with coordinate tokens, loadable by AutoTokenizer', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(MODEL_DIR);
    const ids = tokenizer('where is the red circle?').input_ids.tolist()[0].map(Number);
    expect(ids).toHaveLength(7); // <s> where is the red circle ?
    expect(tokenizer.decode(tokenizer('l12 t5 r20 b13', { add_special_tokens: false }).input_ids.tolist()[0].map(Number))).toBe(
      'l12 t5 r20 b13',
    );
  });

  it('expands <image> into 576 image tokens and 192×192 pixel values', async () => {
    const { image } = sceneImage(99, 0, 1);
    const inputs = await promptInputs(processor, image, 'is there a red circle?');
    expect(inputs.pixel_values.dims).toEqual([1, 3, 192, 192]);
    const ids = inputs.input_ids.tolist()[0].map(Number);
    const config = JSON.parse(readFileSync(`${MODEL_DIR}/config.json`, 'utf8'));
    expect(ids.filter((id: number) => id === config.image_token_index)).toHaveLength(576);
  });

  const DECODER = `${MODEL_DIR}/onnx/decoder_model_merged.onnx`;

  it('gives the same logits split at layer K as the whole decoder when nothing is pruned', async () => {
    const { image } = sceneImage(99, 1, 1);
    const inputs = await promptInputs(processor, image, 'where is the blue square?');
    const length = inputs.input_ids.dims[1];
    const whole = await model.forward({ ...inputs });
    const split: any = withTokenPruning(model, { method: 'd2pruner', budget: 576, layer: 2, decoder: DECODER });
    const parts = await split.forward({ ...inputs });
    const vocab = whole.logits.dims[2];
    const last = (t: any) => (t.data as Float32Array).slice((length - 1) * vocab, length * vocab);
    const [a, b] = [last(whole.logits), last(parts.logits)];
    let maxDiff = 0;
    for (let i = 0; i < vocab; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-3);
    const report = split.lastPruning;
    expect(report.sequence).toEqual({ before: length, after: length });
    const importance: Float32Array = report.images[0].importance;
    expect(importance.length).toBe(576);
    const sum = importance.reduce((x, y) => x + y, 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(1 + 1e-4);
  });

  it('generates the same tokens through the whole decoder and the layer-2 split with every token kept', async () => {
    const { image, cases } = sceneImage(99, 2, 4);
    const split: any = withTokenPruning(model, { method: 'd2pruner', budget: 576, layer: 2, decoder: DECODER });
    for (const c of cases) {
      const inputs = await promptInputs(processor, image, c.prompt);
      const prompt = inputs.input_ids.dims[1];
      const a = (await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false })).tolist()[0].slice(prompt).map(Number);
      const b = (await split.generate({ ...inputs, max_new_tokens: 6, do_sample: false })).tolist()[0].slice(prompt).map(Number);
      expect(b).toEqual(a);
    }
  });

  it('runs layers ≥ K on the kept tokens only', async () => {
    const { image } = sceneImage(99, 3, 1);
    const inputs = await promptInputs(processor, image, 'how many circles are there?');
    const length = inputs.input_ids.dims[1];
    const split: any = withTokenPruning(model, { method: 'uniform', budget: 64, layer: 2, decoder: DECODER });
    const out = await split.forward({ ...inputs });
    const report = split.lastPruning;
    expect(report).toMatchObject({ layer: 2, importance: 'attention', before: 576, after: 64 });
    expect(report.sequence).toEqual({ before: length, after: length - 576 + 64 });
    // The suffix saw only the kept rows: its caches (layers 2, 3) hold length − 512 positions, the prefix's the whole prompt.
    expect(out['present.0.key'].dims[2]).toBe(length);
    expect(out['present.2.key'].dims[2]).toBe(length - 512);
    expect(out['present.3.value'].dims[2]).toBe(length - 512);
  });

  it('answers generated questions correctly through transformers.js (trained model)', async () => {
    // Scenes from a seed never used in training (training 1000, validation 2000).
    let right = 0;
    let total = 0;
    for (let index = 0; index < 4; index++) {
      const { image, cases } = sceneImage(7, index, 4);
      for (const c of cases) {
        const inputs = await promptInputs(processor, image, c.prompt);
        const out = await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false });
        const answer = processor.batch_decode(out.slice(null, [inputs.input_ids.dims[1], null]), { skip_special_tokens: true })[0].trim();
        if (c.task === 'grounding') {
          const { answerToBox, iou } = await import('../../src/testbed/generate.js');
          const box = answerToBox(answer);
          right += box && iou(box, c.box!) >= 0.5 ? 1 : 0;
        } else {
          right += answer === c.answer ? 1 : 0;
        }
        total++;
      }
    }
    // The shipped model gets all 16 right (0.995–1.0 on yes/no, colour and grounding, 0.955 on count over
    // 800 held-out cases); answering at chance would score about 0.25 (yes/no 1/2, colour 1/6, count ~0.3,
    // grounding ~0), an untrained export 0, and the first shipped weights 10 of 16.
    expect(right / total).toBeGreaterThanOrEqual(Number(process.env.TESTBED_MIN_ACCURACY ?? 0.875));
  });
});
