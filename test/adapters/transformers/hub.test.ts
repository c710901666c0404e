/**
 * The fixtures that mirror the Hub exports (test/fixtures/hub.ts): prompts through every template shape,
 * the errors users hit, float16 sessions with every method, dtype selection, the callable wrapper.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AutoModelForImageTextToText, AutoProcessor, env } from '@huggingface/transformers';
import { chatInputs, chatPrompt } from '../../../src/adapters/transformers/prompt.js';
import { loadVisionLanguageModel, promptInputs, resolveSessionDtypes } from '../../../src/adapters/transformers/load.js';
import { ValidationError, methodNames } from '../../../src/index.js';
import { withTokenPruning } from '../../../src/adapters/transformers/index.js';
import { ensureFixtureModel } from '../../fixtures/models.js';
import { float16Bits, float16Value } from '../../../src/core/float16.js';
import { countSessionRuns, pngImage, recordSessions } from './helpers.js';

env.allowRemoteModels = false;
const CARD_DTYPE = { embed_tokens: 'fp16', vision_encoder: 'q4', decoder_model_merged: 'q4' } as const;

describe('FastVLM mirror (string-only ChatML, fp16 embeddings, float16 decoder without num_logits_to_keep)', () => {
  let processor: any;
  let model: any;
  let image: any;
  beforeAll(async () => {
    const dir = ensureFixtureModel('fastvlm');
    processor = await AutoProcessor.from_pretrained(dir);
    model = await AutoModelForImageTextToText.from_pretrained(dir, { dtype: CARD_DTYPE, device: 'cpu' });
    image = (await pngImage(7, 320, 240)).image;
  });

  it('reproduces the old failure: a list-content message renders no <image> and transformers.js fails', async () => {
    const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Hi?' }] }], {
      add_generation_prompt: true,
    });
    expect(text).not.toContain('<image>');
    const inputs = await processor(image, text);
    await expect(model.generate({ ...inputs, max_new_tokens: 1 })).rejects.toThrow('Number of tokens and features do not match: tokens: 0, features 256');
  });

  it('the pruned wrapper rejects that prompt before any session runs, naming input_ids', async () => {
    const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Hi?' }] }], {
      add_generation_prompt: true,
    });
    const inputs = await processor(image, text);
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 16 });
    const runs = countSessionRuns(model);
    try {
      await expect(pruned.generate({ ...inputs, max_new_tokens: 1 })).rejects.toThrow(/^input_ids: hold no image token/);
      expect(runs.count).toBe(0);
    } finally {
      runs.restore();
    }
  });

  it("chatPrompt writes '<image>' + text with the template's system prompt and FastVLM's add_special_tokens: false", () => {
    const prompt = chatPrompt(processor, 'llava_qwen2', 'Where is the dog?');
    expect(prompt.style).toBe('string');
    expect(prompt.text).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>Where is the dog?<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(prompt.processorOptions).toEqual({ add_special_tokens: false });
  });

  it('a prompt that itself contains <image> is a ValidationError naming the prompt', () => {
    expect(() => chatPrompt(processor, 'llava_qwen2', 'What is <image> here?')).toThrow(ValidationError);
    expect(() => chatPrompt(processor, 'llava_qwen2', 'What is <image> here?')).toThrow(/^prompt: contains "<image>"/);
    expect(() => chatPrompt(processor, 'llava_qwen2', 'ok', { history: [{ role: 'user', text: '<image>' }] })).toThrow(/^history\[0\]\.text:/);
  });

  it('a template that renders no placeholder either way is a ValidationError naming chat_template', () => {
    const textOnly = "{% for m in messages %}{{ m['role'] }}{% endfor %}";
    expect(() => chatPrompt(processor, 'llava_qwen2', 'Hi', { chatTemplate: textOnly })).toThrow(/^chat_template: renders no "<image>"/);
  });

  it('every method runs on float16 embeddings and KV cache; kept rows are the float16 merged features', async () => {
    const inputs = await chatInputs(processor, 'llava_qwen2', image, 'Is there a circle?');
    expect(model.sessions.decoder_model_merged.inputNames).not.toContain('num_logits_to_keep');
    for (const method of methodNames) {
      const recorder = recordSessions(model, ['embed_tokens', 'vision_encoder', 'decoder_model_merged']);
      try {
        const pruned = withTokenPruning(model, { method, budget: 32 } as never);
        await pruned.generate({ ...inputs, max_new_tokens: 3, min_new_tokens: 3, do_sample: false });
        const decoder = recorder.decoderCalls();
        expect(decoder.length, method).toBe(3);
        const prefill = decoder[0]!;
        expect(prefill.feeds.inputs_embeds!.type).toBe('float16');
        expect(prefill.feeds['past_key_values.0.key']!.type).toBe('float16');
        expect(decoder[1]!.feeds['past_key_values.0.key']!.type).toBe('float16');
        const length = inputs.input_ids.dims[1] - 256 + 32;
        expect(prefill.feeds.inputs_embeds!.dims, method).toEqual([1, length, 64]);
        expect(decoder[1]!.feeds['past_key_values.0.key']!.dims[2]).toBe(length);
        const logits = prefill.outputs.logits!;
        expect(logits.type).toBe('float16');
        // Every half is finite: no NaN/Inf from a float16 mis-encoding.
        for (const bits of prefill.feeds.inputs_embeds!.data as Uint16Array) expect((bits & 0x7c00) !== 0x7c00).toBe(true);
        if (method !== 'visionzip') {
          // The first kept visual row is the vision feature of that token, encoded to float16 exactly once.
          const report = pruned.lastPruning!;
          const features = recorder.calls.find((c) => c.session === 'vision_encoder')!.outputs.image_features!;
          const t = report.keep[0]!;
          // Text before the image is all kept, so the first kept visual token sits where the image starts.
          const position = report.images[0]!.tokenPositions[0]!;
          const row = (prefill.feeds.inputs_embeds!.data as Uint16Array).subarray(position * 64, position * 64 + 64);
          const expected = Array.from((features.data as Float32Array).subarray(t * 64, t * 64 + 64), (v) => float16Bits(v));
          expect(Array.from(row), method).toEqual(expected);
        } else {
          // VisionZip's merged features come back as float16 values close to their float32 means.
          const row = Array.from((prefill.feeds.inputs_embeds!.data as Uint16Array).subarray(0, 64), float16Value);
          expect(row.every(Number.isFinite)).toBe(true);
        }
      } finally {
        recorder.restore();
      }
    }
  });

  it('a second turn on the same image re-prefills the whole chat (ask, answer, ask again) and prunes it again', async () => {
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 32, tokenizer: processor });
    const first = await chatInputs(processor, 'llava_qwen2', image, 'Is there a circle?');
    const ids = await pruned.generate({ ...first, max_new_tokens: 3, min_new_tokens: 3, do_sample: false });
    const [answer] = processor.batch_decode(ids.slice(null, [first.input_ids.dims[1], null]), { skip_special_tokens: true });
    const second = await chatInputs(processor, 'llava_qwen2', image, 'What colour is it?', {
      history: [
        { role: 'user', text: 'Is there a circle?' },
        { role: 'assistant', text: answer },
      ],
    });
    const text = processor.tokenizer.decode(Array.from(second.input_ids.data as BigInt64Array, Number));
    expect(text.split('<image>').length - 1).toBe(256); // one image, in the first user turn only
    expect(text).toContain(`<|im_start|>assistant\n${answer}<|im_end|>\n<|im_start|>user\nWhat colour is it?`);
    await pruned.generate({ ...second, max_new_tokens: 2 });
    expect(pruned.lastPruning!.before).toBe(256);
    expect(pruned.lastPruning!.after).toBe(32);
    expect(pruned.lastPruning!.sequence.after).toBe(second.input_ids.dims[1] - 256 + 32);
  });

  it('the wrapper is callable like the model: pruned(inputs) runs the pruned forward', async () => {
    const inputs = await chatInputs(processor, 'llava_qwen2', image, 'Is there a circle?');
    const pruned = withTokenPruning(model, { method: 'uniform', budget: 16 });
    expect(typeof pruned).toBe('function');
    const out = await (pruned as any)(inputs);
    const base = await model(inputs);
    expect(out.logits.dims[1]).toBe(base.logits.dims[1] - 256 + 16);
    expect(pruned.lastPruning!.after).toBe(16);
  });

  it('generate() with pixel values whose prefill bypasses the wrapper throws instead of answering unpruned', async () => {
    const inputs = await chatInputs(processor, 'llava_qwen2', image, 'Is there a circle?');
    const pruned = withTokenPruning(model, { method: 'uniform', budget: 16 }) as any;
    // Simulate a transformers.js whose generate() no longer goes through this.forward for the prefill.
    const bypass = Object.create(pruned);
    bypass.forward = (modelInputs: unknown) => model.forward(modelInputs);
    await expect(bypass.generate({ ...inputs, max_new_tokens: 2 })).rejects.toThrow(/pruning prefill never ran/);
  });
});

describe('load.ts: precision per session', () => {
  it('picks the smallest file present, honours config.json transformers.js_config.dtype and the dtype option', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'd2pruner-dtype-')), 'model');
    cpSync(ensureFixtureModel('qwen2_vl_2b'), dir, { recursive: true });
    // A smaller q4f16 decoder beside the fp32 one (a copy of the embeddings graph is enough for a file size).
    writeFileSync(join(dir, 'onnx', 'decoder_model_merged_q4f16.onnx'), readFileSync(join(dir, 'onnx', 'embed_tokens.onnx')).subarray(0, 100));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(resolveSessionDtypes(dir, config)).toEqual({ vision_encoder: 'fp32', embed_tokens: 'fp32', decoder_model_merged: 'q4f16' });
    expect(resolveSessionDtypes(dir, config, ['fp32'])).toEqual({ vision_encoder: 'fp32', embed_tokens: 'fp32', decoder_model_merged: 'fp32' });
    const asks = { ...config, 'transformers.js_config': { dtype: { decoder_model_merged: 'fp32' } } };
    expect(resolveSessionDtypes(dir, asks).decoder_model_merged).toBe('fp32');
    expect(resolveSessionDtypes(dir, asks, { decoder_model_merged: 'q4f16' }).decoder_model_merged).toBe('q4f16');
    expect(() => resolveSessionDtypes(dir, config, 'q4')).toThrow(/^dtype: needs onnx\/vision_encoder_q4\.onnx/);
    expect(() => resolveSessionDtypes(dir, config, 'fp8')).toThrow(/^dtype: must be one of fp32, fp16, q8/);
    expect(() => resolveSessionDtypes(dir, { 'transformers.js_config': { dtype: 'q8' } })).toThrow(/^config\.json transformers\.js_config\.dtype: needs/);
  });

  it('loads the FastVLM mirror in its files’ precisions and answers through promptInputs', async () => {
    const loaded = await loadVisionLanguageModel(ensureFixtureModel('fastvlm'));
    expect(loaded.dtype).toEqual(CARD_DTYPE);
    const inputs = await promptInputs(loaded, (await pngImage(8, 200, 200)).image, 'What colour is it?');
    const pruned = withTokenPruning(loaded.model, { method: 'd2pruner', budget: 0.25 });
    await pruned.generate({ ...inputs, max_new_tokens: 2 });
    expect(pruned.lastPruning!.after).toBe(64);
  });

  it('llava_onevision is a clear error, not a crash later', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'd2pruner-ov-')), 'model');
    cpSync(ensureFixtureModel('llava_interleave'), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'llava_onevision' }));
    await expect(loadVisionLanguageModel(dir)).rejects.toThrow(/model type "llava_onevision" has no processor in transformers\.js 4\.3\.1/);
  });
});

describe('real token layouts', () => {
  it('llava-interleave: template from chat_template.json only, 27×27 = 729 tokens', async () => {
    const loaded = await loadVisionLanguageModel(ensureFixtureModel('llava_interleave'));
    const inputs = await promptInputs(loaded, (await pngImage(9, 500, 400)).image, 'Describe it.');
    const pruned = withTokenPruning(loaded.model, { method: 'd2pruner', budget: 100 });
    await pruned.generate({ ...inputs, max_new_tokens: 1 });
    expect(pruned.lastPruning!.before).toBe(729);
    expect(pruned.lastPruning!.images[0]!.grid).toEqual({ rows: 27, cols: 27 });
  });

  it('Qwen2-VL-2B: the template injects the system prompt and the system text is kept', async () => {
    const processor = await AutoProcessor.from_pretrained(ensureFixtureModel('qwen2_vl_2b'));
    const prompt = chatPrompt(processor, 'qwen2_vl', 'What is in the picture?');
    expect(prompt.style).toBe('list');
    expect(prompt.text.startsWith('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>')).toBe(true);
  });
});
