/**
 * README.md's transformers.js examples, run as written (extracted from the README, not retyped) against the
 * fixtures that mirror the Hub exports they load (test/fixtures/hub.ts): FastVLM's string-only ChatML with
 * fp16 embeddings and a float16 decoder without num_logits_to_keep, SmolVLM's 512-px tiles with external
 * decoder data, Qwen2-VL-2B's template with its injected system prompt and patch-14 layout.
 */
import { describe, expect, it } from 'vitest';
import { env } from '@huggingface/transformers';
import { ensureFixtureModel } from '../fixtures/models.js';
import { pngImage } from '../adapters/transformers/helpers.js';
import { readmeBlocks, readmeExample, runExample } from './extract.js';

env.allowRemoteModels = false;
const SECTION = 'Pruning inside transformers.js models';

describe('README examples run as written on the mirroring fixtures', () => {
  it('FastVLM (onnx-community/FastVLM-0.5B-ONNX): 256 → 64 tokens through the string-only ChatML template', async () => {
    const block = readmeExample(SECTION, 'onnx-community/FastVLM-0.5B-ONNX');
    const { path } = await pngImage(3, 640, 480);
    const run = await runExample(
      block,
      { modelId: 'onnx-community/FastVLM-0.5B-ONNX', modelDir: ensureFixtureModel('fastvlm'), imagePath: path },
      ['pruned', 'inputs', 'ids', 'answer', 'model'],
    );
    expect(run.pruned.lastPruning.before).toBe(256);
    expect(run.pruned.lastPruning.after).toBe(64);
    // The recipe: no special tokens added by the tokenizer, one <image> expanded to 256 tokens.
    const ids = Array.from(run.inputs.input_ids.data as BigInt64Array);
    const imageId = BigInt(run.model.config.image_token_index);
    expect(ids.filter((x) => x === imageId).length).toBe(256);
    expect(run.model.sessions.decoder_model_merged.inputNames).not.toContain('num_logits_to_keep');
    expect(run.ids.dims[1]).toBeGreaterThan(run.inputs.input_ids.dims[1]);
    expect(typeof run.answer).toBe('string');
  });

  it('the second-turn example continues the FastVLM example\'s pruned cache', async () => {
    const first = readmeExample(SECTION, 'onnx-community/FastVLM-0.5B-ONNX');
    const second = readmeBlocks(SECTION).find((b) => b.includes('past_key_values: turn1.past_key_values'));
    expect(second).toBeDefined();
    const { path } = await pngImage(3, 640, 480);
    const run = await runExample(
      `${first}\n${second}`,
      { modelId: 'onnx-community/FastVLM-0.5B-ONNX', modelDir: ensureFixtureModel('fastvlm'), imagePath: path },
      ['pruned', 'inputs', 'turn1', 'turn2', 'input_ids'],
    );
    // transformers.js updates the cache in place: turn 2 grew turn 1's cache by the new turn and its answer.
    expect(run.turn2.past_key_values).toBe(run.turn1.past_key_values);
    expect(run.input_ids.dims[1]).toBeGreaterThan(run.turn1.sequences.dims[1]);
    expect(run.turn2.sequences.dims[1]).toBeGreaterThan(run.input_ids.dims[1]);
    expect(run.turn2.past_key_values.get_seq_length()).toBe(run.turn2.sequences.dims[1] - 1 - (256 - 64));
    expect(run.pruned.lastPruning.after).toBe(64);
  });

  it('SmolVLM (HuggingFaceTB/SmolVLM-256M-Instruct): 64-token tiles plus the global view, a quarter kept', async () => {
    const block = readmeExample(SECTION, 'HuggingFaceTB/SmolVLM-256M-Instruct');
    const { path } = await pngImage(4, 700, 500);
    const run = await runExample(
      block,
      { modelId: 'HuggingFaceTB/SmolVLM-256M-Instruct', modelDir: ensureFixtureModel('smolvlm'), imagePath: path },
      ['pruned', 'inputs', 'model'],
    );
    const report = run.pruned.lastPruning;
    expect(report.before % 64).toBe(0);
    expect(report.before).toBeGreaterThan(64); // split into 512-px tiles + the global view
    expect(report.images[0].grid.tiles.every((t: { rows: number; cols: number }) => t.rows === 8 && t.cols === 8)).toBe(true);
    expect(report.after).toBe(Math.round(report.before / 4));
    expect(run.model.sessions.decoder_model_merged.inputNames).not.toContain('num_logits_to_keep');
  });

  it('Qwen2-VL (onnx-community/Qwen2-VL-2B-Instruct): 448² → 256 tokens, system prompt from the template', async () => {
    const block = readmeExample(SECTION, 'onnx-community/Qwen2-VL-2B-Instruct');
    const { path } = await pngImage(5, 448, 448);
    const run = await runExample(
      block,
      { modelId: 'onnx-community/Qwen2-VL-2B-Instruct', modelDir: ensureFixtureModel('qwen2_vl_2b'), imagePath: path },
      ['pruned', 'inputs', 'model'],
    );
    expect(run.model.config.vision_config.spatial_merge_size).toBeUndefined();
    expect(run.pruned.lastPruning.before).toBe(256);
    expect(run.pruned.lastPruning.after).toBe(64);
    expect(run.pruned.lastPruning.images[0].grid).toEqual({ rows: 16, cols: 16 });
  });
});
