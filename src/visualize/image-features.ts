import sharp from 'sharp';
import { ValidationError } from '../core/errors.js';

/** Options for {@link imagePatchFeatures}. */
export interface ImagePatchOptions {
  /** Patch grid rows. Default 24 (LLaVA-1.5's 576-token layout). */
  rows?: number;
  /** Patch grid columns. Default 24. */
  cols?: number;
  /** Pixels per patch side the image is resampled to before measuring. Default 12. */
  patchSize?: number;
  /**
   * A prompt. Colour words in it (red, green, blue, yellow, orange, purple, pink, brown, white, black,
   * grey/gray) raise the importance of patches of that colour, a stand-in for prompt relevance. Default none.
   */
  prompt?: string;
}

/** Token features and importance for one image, in the shape `select()` takes. */
export interface ImagePatchFeatures {
  /** rows·cols × dim, row-major, each column standardised over the patches. */
  features: Float32Array;
  dims: [number, number];
  /** Non-negative saliency proxy per patch, see {@link imagePatchFeatures}. */
  importance: Float32Array;
  grid: { rows: number; cols: number };
  /** The colour words of the prompt that were used, in order of appearance. */
  colourWords: string[];
}

export const imagePatchDefaults = Object.freeze({ rows: 24, cols: 24, patchSize: 12 });

const COLOURS: Readonly<Record<string, readonly [number, number, number]>> = Object.freeze({
  red: [220, 40, 40],
  green: [50, 160, 60],
  blue: [40, 80, 210],
  yellow: [235, 215, 40],
  orange: [240, 140, 30],
  purple: [130, 50, 160],
  pink: [240, 130, 180],
  brown: [130, 85, 45],
  white: [240, 240, 240],
  black: [20, 20, 20],
  grey: [128, 128, 128],
  gray: [128, 128, 128],
});

/** Feature width: mean RGB, RGB spread, 2×2 sub-block luminance, horizontal and vertical gradient energy. */
const DIM = 12;

/**
 * A model-free stand-in for a vision encoder, so that overlays and demos work without a model: the image is
 * cut into a `rows × cols` grid of patches and each patch is described by its colour and texture.
 *
 * - Features (12 per patch): mean R, G, B; their standard deviations; the mean luminance of the patch's four
 *   quadrants; mean absolute horizontal and vertical luminance gradients. Each feature is standardised
 *   (zero mean, unit variance over the patches) so that cosine similarity compares patches with each other
 *   rather than with black.
 * - Importance (a saliency proxy, ≥ 0): how far the patch's mean colour is from the image's mean colour plus
 *   its edge energy, each scaled to [0, 1]; when the prompt names colours, multiplied by
 *   0.2 + closeness to the nearest named colour (a Gaussian of the RGB distance, σ = 60).
 *
 * This is not a model: it knows nothing of objects or words beyond colour names. Use a transformers.js
 * model (`--model`) for real features and prompt relevance.
 *
 * @throws ValidationError for a grid or patch size that is not a positive integer, or an unreadable image.
 */
export async function imagePatchFeatures(image: string | Buffer | Uint8Array, options: ImagePatchOptions = {}): Promise<ImagePatchFeatures> {
  const rows = options.rows ?? imagePatchDefaults.rows;
  const cols = options.cols ?? imagePatchDefaults.cols;
  const patch = options.patchSize ?? imagePatchDefaults.patchSize;
  for (const [field, value, max] of [['rows', rows, 256], ['cols', cols, 256], ['patchSize', patch, 64]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > max) throw new ValidationError(field, value, `must be an integer in [1, ${max}]`);
  }
  const width = cols * patch;
  const height = rows * patch;
  let pixels: Buffer;
  try {
    pixels = await sharp(image)
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer();
  } catch (error) {
    throw new ValidationError('image', typeof image === 'string' ? image : 'bytes', `cannot be read as an image (${(error as Error).message})`);
  }

  const tokens = rows * cols;
  const raw = new Float64Array(tokens * DIM);
  const lum = (x: number, y: number) => {
    const o = 3 * (y * width + x);
    return 0.299 * pixels[o]! + 0.587 * pixels[o + 1]! + 0.114 * pixels[o + 2]!;
  };
  const half = patch / 2;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const f = raw.subarray((r * cols + c) * DIM, (r * cols + c + 1) * DIM);
      const sum = [0, 0, 0];
      const sq = [0, 0, 0];
      const quadrant = [0, 0, 0, 0];
      const quadrantCount = [0, 0, 0, 0];
      let gx = 0;
      let gy = 0;
      for (let y = r * patch; y < (r + 1) * patch; y++) {
        for (let x = c * patch; x < (c + 1) * patch; x++) {
          const o = 3 * (y * width + x);
          for (let k = 0; k < 3; k++) {
            sum[k]! += pixels[o + k]!;
            sq[k]! += pixels[o + k]! ** 2;
          }
          const q = (y - r * patch < half ? 0 : 2) + (x - c * patch < half ? 0 : 1);
          quadrant[q]! += lum(x, y);
          quadrantCount[q]!++;
          if (x + 1 < (c + 1) * patch) gx += Math.abs(lum(x + 1, y) - lum(x, y));
          if (y + 1 < (r + 1) * patch) gy += Math.abs(lum(x, y + 1) - lum(x, y));
        }
      }
      const count = patch * patch;
      for (let k = 0; k < 3; k++) {
        const mean = sum[k]! / count;
        f[k] = mean;
        f[3 + k] = Math.sqrt(Math.max(0, sq[k]! / count - mean * mean));
      }
      for (let q = 0; q < 4; q++) f[6 + q] = quadrantCount[q]! > 0 ? quadrant[q]! / quadrantCount[q]! : f[0]!;
      const pairs = Math.max(1, patch * (patch - 1));
      f[10] = gx / pairs;
      f[11] = gy / pairs;
    }
  }

  // Saliency proxy: colour distinctiveness + edge energy, each scaled to [0, 1].
  const imageMean = [0, 0, 0];
  for (let t = 0; t < tokens; t++) for (let k = 0; k < 3; k++) imageMean[k]! += raw[t * DIM + k]! / tokens;
  const distinct = new Float64Array(tokens);
  const edges = new Float64Array(tokens);
  for (let t = 0; t < tokens; t++) {
    distinct[t] = Math.hypot(raw[t * DIM]! - imageMean[0]!, raw[t * DIM + 1]! - imageMean[1]!, raw[t * DIM + 2]! - imageMean[2]!);
    edges[t] = raw[t * DIM + 10]! + raw[t * DIM + 11]!;
  }
  scaleToUnit(distinct);
  scaleToUnit(edges);
  const colourWords = (options.prompt ?? '').toLowerCase().match(/[a-z]+/g)?.filter((w) => w in COLOURS) ?? [];
  const importance = new Float32Array(tokens);
  for (let t = 0; t < tokens; t++) {
    let value = distinct[t]! + edges[t]!;
    if (colourWords.length > 0) {
      let closeness = 0;
      for (const word of colourWords) {
        const target = COLOURS[word]!;
        const d2 = (raw[t * DIM]! - target[0]) ** 2 + (raw[t * DIM + 1]! - target[1]) ** 2 + (raw[t * DIM + 2]! - target[2]) ** 2;
        closeness = Math.max(closeness, Math.exp(-d2 / (2 * 60 * 60)));
      }
      value *= 0.2 + closeness;
    }
    importance[t] = value;
  }

  // Standardise every feature column over the patches.
  const features = new Float32Array(tokens * DIM);
  for (let k = 0; k < DIM; k++) {
    let mean = 0;
    for (let t = 0; t < tokens; t++) mean += raw[t * DIM + k]!;
    mean /= tokens;
    let variance = 0;
    for (let t = 0; t < tokens; t++) variance += (raw[t * DIM + k]! - mean) ** 2;
    const std = Math.sqrt(variance / tokens) || 1;
    for (let t = 0; t < tokens; t++) features[t * DIM + k] = (raw[t * DIM + k]! - mean) / std;
  }
  return { features, dims: [tokens, DIM], importance, grid: { rows, cols }, colourWords: [...new Set(colourWords)] };
}

function scaleToUnit(values: Float64Array): void {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const span = max - min;
  for (let i = 0; i < values.length; i++) values[i] = span > 0 ? (values[i]! - min) / span : 0;
}
