import type { FamilyAdapter, ImageSpan, ProcessorLike, TensorLike, VisionLanguageModelLike } from './types.js';
import { range, squareLayout, tokenRuns } from './layout.js';

/** The processor's image placeholder (`processor_config.json` `image_token`, `<image>` by default). */
function imageToken(processor: ProcessorLike): string {
  const token = processor.config?.image_token;
  return typeof token === 'string' && token.length > 0 ? token : '<image>';
}

/**
 * LLaVA layout: `llava`, `llava_qwen2` (FastVLM) and `llava_onevision`. The projected image features replace
 * a run of image tokens in the prompt (transformers.js merges them in `_merge_input_ids_with_image_features`),
 * positions are the cumsum of the attention mask. One run of image tokens is one image; when several images
 * sit in one run (no text between them), the run is split evenly by the number of images in `pixel_values`.
 * A run of N tokens gets a √N×√N grid when N is square, or a CLS token plus a √(N−1) grid.
 */
export const llava: FamilyAdapter = {
  family: 'llava',
  modelTypes: ['llava', 'llava_qwen2', 'llava_onevision'],
  mrope: false,
  prompt: {
    imageText: (processor) => imageToken(processor),
    // FastVLM's model card (onnx-community/FastVLM-0.5B-ONNX) builds `content: '<image>' + question`;
    // LLaVA-1.5's prompt format is `USER: <image>\n<prompt> ASSISTANT:`.
    inlineImage: (modelType, processor) => (modelType === 'llava_qwen2' ? imageToken(processor) : `${imageToken(processor)}\n`),
    reserved: (processor) => [imageToken(processor)],
    imagesFirst: true,
    // FastVLM's chat template already writes every special token; its recipe tokenizes without adding more.
    processorOptions: (modelType) => (modelType === 'llava_qwen2' ? { add_special_tokens: false } : {}),
  },
  // LlavaForConditionalGeneration (and FastVLM's LlavaQwen2ForCausalLM) merge at image_token_index ?? image_token_id.
  mergeTokenId: (model) => {
    const config = model.config as { image_token_index?: number; image_token_id?: number };
    return config.image_token_index ?? config.image_token_id;
  },
  locateImages(model: VisionLanguageModelLike, row: BigInt64Array, modelInputs: Record<string, unknown>): ImageSpan[] {
    const config = model.config as { image_token_index?: number; image_token_id?: number };
    const imageTokenId = config.image_token_index ?? config.image_token_id;
    if (imageTokenId === undefined) throw new Error(`config.json of this ${model.config.model_type} model names no image_token_index`);
    const runs = tokenRuns(row, BigInt(imageTokenId));
    const pixelValues = modelInputs.pixel_values as TensorLike | undefined;
    const imageCount = pixelValues && pixelValues.dims.length === 4 ? pixelValues.dims[0]! : runs.length;
    const batch = (modelInputs.input_ids as TensorLike | undefined)?.dims[0] ?? 1;
    const spans: ImageSpan[] = [];
    const splitEvenly =
      batch === 1 && imageCount > runs.length && runs.length === 1 && (runs[0]![1] - runs[0]![0]) % imageCount === 0;
    for (const [start, end] of runs) {
      const parts = splitEvenly ? imageCount : 1;
      const size = (end - start) / parts;
      for (let k = 0; k < parts; k++) {
        const { grid, layout } = squareLayout(size);
        spans.push({ positions: range(start + k * size, start + (k + 1) * size), grid, layout });
      }
    }
    return spans;
  },
};
