import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import {
  computeFlops,
  decoderShapeFromConfig,
  layerFlops,
  modelPresets,
  visualTokensFromConfig,
  type DecoderShape,
} from '../src/flops.js';

const llava7b = modelPresets['llava-1.5-7b']!.shape;

describe('layerFlops', () => {
  const tiny: DecoderShape = { hiddenSize: 8, intermediateSize: 16, layers: 4, heads: 2, kvHeads: 1, headDim: 4, gatedMlp: true };

  it('follows the field convention 4nd² + 2n²d + 2ndm', () => {
    // n = 3, d = 8, m = 16: 4·3·64 + 2·9·8 + 2·3·8·16 = 768 + 144 + 768
    expect(layerFlops(3, tiny)).toBe(1680);
  });

  it('counts GQA k/v projections and a three-matrix gated MLP in the exact variant', () => {
    // q,o: 2·3·8·8 = 384; k,v: 2·3·8·(1·4) = 192; attention 2·9·(2·4) = 144; MLP 3·3·8·16 = 1152
    expect(layerFlops(3, tiny, 'exact')).toBe(1872);
    expect(layerFlops(3, { ...tiny, gatedMlp: false }, 'exact')).toBe(1872 - 384);
  });

  it('equals the convention in the exact variant for plain multi-head attention and a two-matrix MLP', () => {
    const plain = { ...tiny, kvHeads: 2, gatedMlp: false };
    expect(layerFlops(5, plain, 'exact')).toBe(layerFlops(5, plain));
  });
});

describe('computeFlops', () => {
  it('reproduces the paper: LLaVA-1.5-7B, 576 → 128 tokens at K = 2 saves about 73%', () => {
    const report = computeFlops(llava7b, { visualTokens: 576, budget: 128, layer: 2 });
    // per layer: 576·4096·(4·4096 + 2·576 + 2·11008) = 93,314,875,392; × 32 layers
    expect(report.before).toBe(2_986_076_012_544);
    // 2 full layers + 30 layers of 128·4096·(16384 + 256 + 22016) = 20,266,876,928
    expect(report.after).toBe(2 * 93_314_875_392 + 30 * 20_266_876_928);
    expect(report.reduction).toBeCloseTo(0.7339, 4);
    expect(report.keptTokens).toBe(128);
  });

  it('reproduces the paper: LLaVA-1.5-7B, 576 → 64 tokens at K = 2 saves about 84%', () => {
    const report = computeFlops(llava7b, { visualTokens: 576, budget: 64 });
    expect(report.layer).toBe(2);
    expect(report.reduction).toBeCloseTo(0.836, 3);
  });

  it('prunes at the input with K = 0 and saves nothing with K = L', () => {
    const atInput = computeFlops(llava7b, { visualTokens: 576, budget: 64, layer: 0 });
    expect(atInput.after).toBe(32 * layerFlops(64, llava7b));
    const never = computeFlops(llava7b, { visualTokens: 576, budget: 64, layer: 32 });
    expect(never.reduction).toBe(0);
  });

  it('counts text tokens with both the full and the pruned visual tokens', () => {
    const report = computeFlops(llava7b, { visualTokens: 576, budget: 64, layer: 0, textTokens: 100 });
    expect(report.before).toBe(32 * layerFlops(676, llava7b));
    expect(report.after).toBe(32 * layerFlops(164, llava7b));
    const visualOnly = computeFlops(llava7b, { visualTokens: 576, budget: 64, layer: 0 });
    expect(report.reduction).toBeLessThan(visualOnly.reduction);
  });

  it('resolves a fractional budget as max(1, round(f·N))', () => {
    expect(computeFlops(llava7b, { visualTokens: 576, budget: 0.1 }).keptTokens).toBe(58);
  });

  it('rejects a bad budget, layer, token count or variant naming the field', () => {
    const bad: [object, string][] = [
      [{ visualTokens: 576, budget: 0 }, 'budget'],
      [{ visualTokens: 576, budget: 577 }, 'budget'],
      [{ visualTokens: 576, budget: 2.5 }, 'budget'],
      [{ visualTokens: 576, budget: 64, layer: 33 }, 'layer'],
      [{ visualTokens: 576, budget: 64, layer: -1 }, 'layer'],
      [{ visualTokens: 0, budget: 1 }, 'visualTokens'],
      [{ visualTokens: 576, budget: 64, textTokens: 1.5 }, 'textTokens'],
      [{ visualTokens: 576, budget: 64, variant: 'fast' }, 'variant'],
    ];
    for (const [options, field] of bad) {
      const call = () => computeFlops(llava7b, options as never);
      expect(call).toThrow(ValidationError);
      expect(call).toThrow(new RegExp(`^${field}:`));
    }
  });
});

describe('presets', () => {
  it('have whole head widths and key/value heads that divide the query heads', () => {
    for (const [name, preset] of Object.entries(modelPresets)) {
      const s = preset.shape;
      expect(Number.isInteger(s.headDim), name).toBe(true);
      expect(s.heads % s.kvHeads, name).toBe(0);
      expect(preset.visualTokens, name).toBeGreaterThan(0);
    }
  });

  it('carry the issue\'s sizes for FastVLM-0.5B (Qwen2-0.5B) and SmolVLM-256M', () => {
    expect(modelPresets['fastvlm-0.5b']!.shape).toMatchObject({ hiddenSize: 896, layers: 24, heads: 14, kvHeads: 2, intermediateSize: 4864 });
    expect(modelPresets['smolvlm-256m']!.shape).toMatchObject({ hiddenSize: 576, layers: 30, heads: 9, kvHeads: 3, intermediateSize: 1536 });
    expect(modelPresets['llava-next-7b']!.visualTokens).toBe(2880);
  });
});

describe('decoderShapeFromConfig', () => {
  it('reads a top-level config (Qwen2-VL)', () => {
    const shape = decoderShapeFromConfig({
      model_type: 'qwen2_vl', hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28,
      num_attention_heads: 12, num_key_value_heads: 2, hidden_act: 'silu', vision_config: { patch_size: 14 },
    });
    expect(shape).toEqual(modelPresets['qwen2-vl-2b']!.shape);
  });

  it('reads text_config (Idefics3/SmolVLM) and llm_config (InternVL)', () => {
    const smol = decoderShapeFromConfig({
      model_type: 'idefics3', image_seq_len: 64,
      text_config: { model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64 },
    });
    expect(smol).toEqual(modelPresets['smolvlm-256m']!.shape);
    const internvl = decoderShapeFromConfig({
      llm_config: { model_type: 'internlm2', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8 },
    });
    expect(internvl).toEqual(modelPresets['internvl2.5-8b']!.shape);
  });

  it('falls back to the llama class defaults that llava-hf configs leave out', () => {
    const shape = decoderShapeFromConfig({ model_type: 'llava', text_config: { model_type: 'llama', vocab_size: 32064 } });
    expect(shape).toEqual(llava7b);
  });

  it('reads GPT-2 style keys and treats a GELU MLP as two matrices', () => {
    const shape = decoderShapeFromConfig({ model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, activation_function: 'gelu_new' });
    expect(shape).toEqual({ hiddenSize: 768, intermediateSize: 3072, layers: 12, heads: 12, kvHeads: 12, headDim: 64, gatedMlp: false });
  });

  it('names the missing or bad key', () => {
    expect(() => decoderShapeFromConfig({ hidden_size: 64 })).toThrow(/^config\.num_hidden_layers: is missing/);
    expect(() => decoderShapeFromConfig({ text_config: { hidden_size: -1 } })).toThrow(/^config\.text_config\.hidden_size:/);
    expect(() => decoderShapeFromConfig([1, 2])).toThrow(ValidationError);
  });
});

describe('visualTokensFromConfig', () => {
  it('reads image_seq_len, or derives tokens from the vision tower and its downsampling', () => {
    expect(visualTokensFromConfig({ image_seq_len: 64 })).toBe(64);
    expect(visualTokensFromConfig({ image_seq_length: 576, vision_config: { image_size: 336, patch_size: 14 } })).toBe(576);
    expect(visualTokensFromConfig({ force_image_size: 448, downsample_ratio: 0.5, vision_config: { patch_size: 14 } })).toBe(256);
    expect(visualTokensFromConfig({ vision_config: { image_size: 336, patch_size: 14 } })).toBe(576);
    expect(visualTokensFromConfig({ scale_factor: 4, vision_config: { image_size: 512, patch_size: 16 } })).toBe(64);
    expect(visualTokensFromConfig({ vision_config: { patch_size: 14, spatial_merge_size: 2 } })).toBeUndefined();
  });
});
