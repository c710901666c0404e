import type { Tile } from '../../core/types.js';
import type { FamilyAdapter, ImageSpan, VisionLanguageModelLike } from './types.js';
import { tokenRuns } from './layout.js';

/**
 * Idefics3 and SmolVLM: with image splitting an image is rows×cols tiles plus a global view, each a run of
 * `image_seq_len` `<image>` tokens introduced by marker tokens (`<fake_token_around_image>`,
 * `<row_i_col_j>`, `<global-img>`). The markers are text and are always kept. Each tile and the global view
 * is its own √n×√n grid; the budget applies to the image as a whole (all its tiles). An image ends with its
 * global view, recognised by the marker token before it (the token before the prompt's last run).
 */
export const idefics3: FamilyAdapter = {
  family: 'idefics3',
  modelTypes: ['idefics3', 'smolvlm'],
  mrope: false,
  prompt: {
    imageText: () => '<image>',
    inlineImage: () => '<image>',
    reserved: () => ['<image>', '<fake_token_around_image>', '<global-img>'],
    imagesFirst: false,
    processorOptions: () => ({}),
  },
  // Idefics3ForConditionalGeneration extends LlavaForConditionalGeneration: its merge reads image_token_index first.
  mergeTokenId: (model) => {
    const config = model.config as { image_token_index?: number; image_token_id?: number };
    return config.image_token_index ?? config.image_token_id;
  },
  locateImages(model: VisionLanguageModelLike, row: BigInt64Array): ImageSpan[] {
    const config = model.config as { image_token_id?: number; image_token_index?: number };
    const imageTokenId = config.image_token_id ?? config.image_token_index;
    if (imageTokenId === undefined) throw new Error(`config.json of this ${model.config.model_type} model names no image_token_id`);
    const runs = tokenRuns(row, BigInt(imageTokenId));
    if (runs.length === 0) return [];
    const lastStart = runs.at(-1)![0];
    const globalMarker = lastStart > 0 ? row[lastStart - 1] : undefined;
    const spans: ImageSpan[] = [];
    let current: [number, number][] = [];
    for (const run of runs) {
      current.push(run);
      if (run[0] > 0 && row[run[0] - 1] === globalMarker) {
        spans.push(imageSpan(current));
        current = [];
      }
    }
    if (current.length > 0) spans.push(imageSpan(current));
    return spans;
  },
  markerIds(_model: VisionLanguageModelLike, row: BigInt64Array, images: readonly ImageSpan[]): bigint[] {
    // Markers are the tokens right before each run and right after each image.
    const ids = new Set<bigint>();
    for (const image of images) {
      const positions = image.positions;
      let previous = -2;
      for (const p of positions) {
        if (p !== previous + 1 && p > 0) {
          ids.add(row[p - 1]!);
          if (p > 1) ids.add(row[p - 2]!);
        }
        previous = p;
      }
      const last = positions[positions.length - 1]!;
      if (last + 1 < row.length) ids.add(row[last + 1]!);
    }
    return [...ids];
  },
};

function imageSpan(runs: [number, number][]): ImageSpan {
  const tiles: Tile[] = [];
  const positions: number[] = [];
  for (const [start, end] of runs) {
    const size = end - start;
    const side = Math.round(Math.sqrt(size));
    const tile = side * side === size ? { rows: side, cols: side } : { rows: 1, cols: size };
    tiles.push({ start: positions.length, ...tile });
    for (let p = start; p < end; p++) positions.push(p);
  }
  return { positions: Int32Array.from(positions), grid: { tiles }, layout: { tokens: positions.length, tiles } };
}
