import type { Grid, Tile } from '../../core/types.js';
import type { FamilyAdapter, ImageSpan, TensorLike, VisionLanguageModelLike } from './types.js';
import { range, tokenRuns } from './layout.js';

/**
 * Qwen2-VL and Qwen2.5-VL: visual tokens are `<|image_pad|>` runs of t·(h/m)·(w/m) tokens per image
 * (`image_grid_thw`, merge size m = `vision_config.spatial_merge_size`), positions are M-RoPE `[3, B, L]`
 * from `get_rope_index`. The adapter subsets those positions for the kept tokens (original mode) and shifts
 * `rope_deltas` so decoding continues from the right position. Each frame of an image is one tile.
 */
export const qwen2vl: FamilyAdapter = {
  family: 'qwen2_vl',
  modelTypes: ['qwen2_vl', 'qwen2_5_vl'],
  mrope: true,
  prompt: {
    imageText: () => '<|image_pad|>',
    inlineImage: () => '<|vision_start|><|image_pad|><|vision_end|>',
    reserved: () => ['<|image_pad|>', '<|video_pad|>', '<|vision_start|>', '<|vision_end|>'],
    imagesFirst: false,
    processorOptions: () => ({}),
  },
  // Qwen2VLForConditionalGeneration (and Qwen2.5-VL) merge at config.image_token_id.
  mergeTokenId: (model) => (model.config as { image_token_id?: number }).image_token_id,
  locateImages(model: VisionLanguageModelLike, row: BigInt64Array, modelInputs: Record<string, unknown>, imageOffset = 0): ImageSpan[] {
    const config = model.config as { image_token_id?: number; vision_config?: { spatial_merge_size?: number } };
    if (config.image_token_id === undefined) throw new Error('config.json of this Qwen-VL model names no image_token_id');
    const merge = config.vision_config?.spatial_merge_size ?? 2;
    const gridThw = modelInputs.image_grid_thw as TensorLike | undefined;
    if (!gridThw) return [];
    const thw = Array.from(gridThw.data as BigInt64Array, Number);
    const runs = tokenRuns(row, BigInt(config.image_token_id));
    const imageCount = gridThw.dims[0]!;
    const batch = (modelInputs.input_ids as TensorLike).dims[0]!;
    if (imageOffset + runs.length > imageCount || (batch === 1 && runs.length !== imageCount)) {
      throw new Error(`found ${imageOffset + runs.length} image-token runs but image_grid_thw describes ${imageCount} images`);
    }
    return runs.map(([start, end], k) => {
      const i = imageOffset + k;
      const [t, h, w] = [thw[3 * i]!, thw[3 * i + 1]! / merge, thw[3 * i + 2]! / merge];
      if (end - start !== t * h * w) {
        throw new Error(`image ${i}: ${end - start} image tokens in the prompt, image_grid_thw gives ${t}·${h}·${w}`);
      }
      const tiles: Tile[] = Array.from({ length: t }, (_, f) => ({ start: f * h * w, rows: h, cols: w }));
      const grid: Grid = t === 1 ? { rows: h, cols: w } : { tiles };
      return { positions: range(start, end), grid, layout: { tokens: end - start, tiles } };
    });
  },
  markerIds(model: VisionLanguageModelLike): bigint[] {
    const config = model.config as Record<string, unknown>;
    return ['vision_start_token_id', 'vision_end_token_id', 'video_token_id']
      .map((key) => config[key])
      .filter((id): id is number => typeof id === 'number')
      .map((id) => BigInt(id));
  },
};
