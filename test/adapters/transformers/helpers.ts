/**
 * Shared machinery for the per-family pipeline tests: tiny fixture models loaded offline through the real
 * processor, real PNG images, a recorder on the decoder session, and an independent decoder-session run.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { AutoModelForImageTextToText, AutoProcessor, RawImage, cat, env } from '@huggingface/transformers';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { ensureFixtureModel } from '../../fixtures/models.js';
import type { FixtureFamily } from '../../fixtures/families.js';

env.allowRemoteModels = false;

export interface Loaded {
  dir: string;
  model: any;
  processor: any;
}

/** Loads a fixture family's model and processor from its local folder (no network). */
export async function loadFixture(family: FixtureFamily): Promise<Loaded> {
  const dir = ensureFixtureModel(family);
  const model = await AutoModelForImageTextToText.from_pretrained(dir, { dtype: 'fp32', device: 'cpu' });
  const processor = await AutoProcessor.from_pretrained(dir);
  return { dir, model, processor };
}

/**
 * A Qwen2.5-VL folder made from the Qwen2-VL fixture: same weights, `model_type: 'qwen2_5_vl'`, and the
 * vision encoder's grid input renamed to `image_grid_thw` (the only session-level difference transformers.js
 * 4.3.1 makes between the two: `image_grid_thw_name`).
 */
export function qwen25Fixture(): string {
  const source = ensureFixtureModel('qwen2_vl');
  const dir = join(mkdtempSync(join(tmpdir(), 'd2pruner-qwen25-')), 'qwen2_5_vl');
  cpSync(source, dir, { recursive: true });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const { vision_config, architectures: _a, model_type: _m, ...text } = config;
  writeFileSync(
    configPath,
    JSON.stringify({
      ...config,
      model_type: 'qwen2_5_vl',
      architectures: ['Qwen2_5_VLForConditionalGeneration'],
      // transformers.js reads Qwen2.5-VL's text sizes from text_config (newer HF config layout).
      text_config: { ...text, model_type: 'qwen2_5_vl_text' },
      vision_config,
    }),
  );
  const visionPath = join(dir, 'onnx', 'vision_encoder.onnx');
  const model = fromBinary(ModelProtoSchema, readFileSync(visionPath));
  const graph = model.graph!;
  for (const input of graph.input) if (input.name === 'grid_thw') input.name = 'image_grid_thw';
  for (const node of graph.node) node.input = node.input.map((name) => (name === 'grid_thw' ? 'image_grid_thw' : name));
  writeFileSync(visionPath, toBinary(ModelProtoSchema, model));
  return dir;
}

/** A SmolVLM folder made from the Idefics3 fixture (SmolVLM is Idefics3's layout under another model type). */
export function smolvlmFixture(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2pruner-smolvlm-')), 'smolvlm');
  cpSync(ensureFixtureModel('idefics3'), dir, { recursive: true });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(configPath, JSON.stringify({ ...config, model_type: 'smolvlm', architectures: ['SmolVLMForConditionalGeneration'] }));
  return dir;
}

/** Loads a model folder and its processor (no network). */
export async function loadFolder(dir: string): Promise<Loaded> {
  const model = await AutoModelForImageTextToText.from_pretrained(dir, { dtype: 'fp32', device: 'cpu' });
  const processor = await AutoProcessor.from_pretrained(dir);
  return { dir, model, processor };
}

const imageDir = join(tmpdir(), `d2pruner-adapter-images-${process.pid}`);

/**
 * Writes a deterministic picture (a gradient background with two filled shapes) as a PNG and reads it back
 * with RawImage.read, as a user's image file would be.
 */
export async function pngImage(seed: number, width: number, height: number): Promise<{ image: RawImage; path: string }> {
  mkdirSync(imageDir, { recursive: true });
  const data = Buffer.alloc(width * height * 3);
  const cx = (seed * 13) % width;
  const cy = (seed * 7) % height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const inCircle = (x - cx) ** 2 + (y - cy) ** 2 < (Math.min(width, height) / 4) ** 2;
      const inSquare = x > width / 2 && y > height / 2 && x < (3 * width) / 4 + seed && y < (3 * height) / 4;
      data[o] = inCircle ? 220 : (x * 255) / width;
      data[o + 1] = inSquare ? 200 : (y * 255) / height;
      data[o + 2] = (seed * 40 + x + y) % 256;
    }
  }
  const path = join(imageDir, `image-${seed}-${width}x${height}.png`);
  writeFileSync(path, await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer());
  return { image: await RawImage.read(path), path };
}

/** Processor inputs for one prompt with `images.length` images, using the folder's chat template. */
export async function buildInputs(loaded: Loaded, family: FixtureFamily, images: RawImage[], prompt: string): Promise<any> {
  const content = [...images.map(() => ({ type: 'image' })), { type: 'text', text: prompt }];
  const text = loaded.processor.apply_chat_template([{ role: 'user', content }], { add_generation_prompt: true });
  if (family === 'llava' || family === 'llava_qwen2') {
    if (images.length === 1) return loaded.processor(images[0], text);
    // transformers.js 4.3.1's LlavaProcessor expands only the first <image>; expand each one the same way.
    const { image_token, patch_size, num_additional_image_tokens } = loaded.processor.config;
    const pixels = await loaded.processor.image_processor(images);
    const [height, width] = pixels.pixel_values.dims.slice(-2);
    const count = Math.floor(height / patch_size) * Math.floor(width / patch_size) + num_additional_image_tokens;
    const expanded = text.split(image_token).join(image_token.repeat(count));
    return { ...pixels, ...loaded.processor.tokenizer(expanded) };
  }
  if (family === 'qwen2_vl' && images.length > 1) {
    // transformers.js 4.3.1's Qwen2VLImageProcessor reads a list of images as the frames of one video, so
    // process each image alone and stack them (pixel rows and grid_thw rows), as the Python processor does.
    const parts = await Promise.all(images.map((image) => loaded.processor.image_processor(image)));
    const merge = loaded.processor.image_processor.config.merge_size ** 2;
    let index = 0;
    const expanded = text.replace(/<\|image_pad\|>/g, () => {
      const thw = parts[index++].image_grid_thw.data as BigInt64Array;
      return '<|image_pad|>'.repeat(Number(thw[0]! * thw[1]! * thw[2]!) / merge);
    });
    return {
      ...loaded.processor.tokenizer(expanded),
      pixel_values: cat(parts.map((p) => p.pixel_values), 0),
      image_grid_thw: cat(parts.map((p) => p.image_grid_thw), 0),
    };
  }
  return loaded.processor(text, images.length === 1 ? images[0] : images);
}

/**
 * Processor inputs for a batch of prompts, left-padded; each entry has its own images. Image tokens are
 * expanded and image inputs stacked here, as transformers.js 4.3.1's LLaVA and Qwen processors batch
 * neither several images per prompt nor (Qwen) several images at all.
 */
export async function buildBatch(loaded: Loaded, family: FixtureFamily, entries: { images: RawImage[]; prompt: string }[]): Promise<any> {
  const { processor } = loaded;
  const texts: string[] = entries.map(({ images, prompt }) =>
    processor.apply_chat_template([{ role: 'user', content: [...images.map(() => ({ type: 'image' })), { type: 'text', text: prompt }] }], {
      add_generation_prompt: true,
    }),
  );
  processor.tokenizer.padding_side = 'left';
  if (family === 'llava' || family === 'llava_qwen2') {
    const { image_token, patch_size, num_additional_image_tokens } = processor.config;
    const pixels = await processor.image_processor(entries.flatMap((e) => e.images));
    const [height, width] = pixels.pixel_values.dims.slice(-2);
    const count = Math.floor(height / patch_size) * Math.floor(width / patch_size) + num_additional_image_tokens;
    const expanded = texts.map((text) => text.split(image_token).join(image_token.repeat(count)));
    return { ...pixels, ...processor.tokenizer(expanded, { padding: true }) };
  }
  if (family !== 'qwen2_vl') throw new Error(`buildBatch: no ${family} support`);
  const parts = await Promise.all(entries.flatMap((e) => e.images).map((image) => processor.image_processor(image)));
  const merge = processor.image_processor.config.merge_size ** 2;
  let index = 0;
  const expanded = texts.map((text) =>
    text.replace(/<\|image_pad\|>/g, () => {
      const thw = parts[index++].image_grid_thw.data as BigInt64Array;
      return '<|image_pad|>'.repeat(Number(thw[0]! * thw[1]! * thw[2]!) / merge);
    }),
  );
  return {
    ...processor.tokenizer(expanded, { padding: true }),
    pixel_values: cat(parts.map((p) => p.pixel_values), 0),
    image_grid_thw: cat(parts.map((p) => p.image_grid_thw), 0),
  };
}

export interface RecordedTensor {
  type: string;
  dims: number[];
  data: any;
}

export type RecordedFeeds = Record<string, RecordedTensor>;

/** Records every run of the named sessions (copies of their feeds); `restore()` puts `run` back. */
export function recordSessions(model: any, names: string[] = ['decoder_model_merged']) {
  const calls: { session: string; feeds: RecordedFeeds; outputs: Record<string, RecordedTensor> }[] = [];
  const originals = new Map<string, any>();
  let ortTensor: any = null;
  for (const name of names) {
    const session = model.sessions[name];
    const original = session.run;
    originals.set(name, original);
    session.run = async function (feeds: Record<string, any>, ...rest: unknown[]) {
      const copy: RecordedFeeds = {};
      for (const [key, t] of Object.entries(feeds)) {
        ortTensor ??= t.constructor;
        copy[key] = { type: t.type, dims: [...t.dims], data: t.data.slice() };
      }
      const outputs = await original.call(this, feeds, ...rest);
      const outCopy: Record<string, RecordedTensor> = {};
      for (const [key, t] of Object.entries(outputs as Record<string, any>)) {
        outCopy[key] = { type: t.type, dims: [...t.dims], data: t.data.slice() };
      }
      calls.push({ session: name, feeds: copy, outputs: outCopy });
      return outputs;
    };
  }
  return {
    calls,
    decoderCalls: () => calls.filter((c) => c.session === 'decoder_model_merged'),
    ortTensor: () => ortTensor,
    restore() {
      for (const [name, original] of originals) model.sessions[name].run = original;
    },
  };
}

/** Times every run of each session of a model (total ms and runs per session name); `restore()` puts `run` back. */
export function timeSessions(model: any) {
  const totals = new Map<string, { ms: number; count: number }>();
  const originals = new Map<string, any>();
  for (const [name, session] of Object.entries(model.sessions as Record<string, any>)) {
    const original = session.run;
    originals.set(name, original);
    session.run = async function (...args: unknown[]) {
      const started = performance.now();
      try {
        return await original.apply(this, args);
      } finally {
        const entry = totals.get(name) ?? { ms: 0, count: 0 };
        entry.ms += performance.now() - started;
        entry.count++;
        totals.set(name, entry);
      }
    };
  }
  return {
    ms: (name: string) => totals.get(name)?.ms ?? 0,
    count: (name: string) => totals.get(name)?.count ?? 0,
    restore() {
      for (const [name, original] of originals) model.sessions[name].run = original;
    },
  };
}

/** Counts runs of every session of a model; `restore()` puts `run` back. */
export function countSessionRuns(model: any) {
  let count = 0;
  const originals = new Map<string, any>();
  for (const [name, session] of Object.entries(model.sessions as Record<string, any>)) {
    const original = session.run;
    originals.set(name, original);
    session.run = function (...args: unknown[]) {
      count++;
      return original.apply(this, args);
    };
  }
  return {
    get count() {
      return count;
    },
    restore() {
      for (const [name, original] of originals) model.sessions[name].run = original;
    },
  };
}

/**
 * An independent run of the decoder session: `embeds` (L×D rows), positions per axis and a mask of ones,
 * with empty past key values shaped like `template`'s (a recorded prefill feed), all logits returned.
 */
export async function runDecoder(
  model: any,
  OrtTensor: any,
  template: RecordedFeeds,
  embeds: Float32Array,
  hidden: number,
  positions: bigint[][],
): Promise<{ logits: Float32Array; dims: number[] }> {
  const length = embeds.length / hidden;
  const feeds: Record<string, any> = {};
  for (const [name, t] of Object.entries(template)) {
    if (name.startsWith('past_key_values')) feeds[name] = new OrtTensor(t.type, new Float32Array(0), [t.dims[0], t.dims[1], 0, t.dims[3]]);
    else if (name === 'num_logits_to_keep') feeds[name] = new OrtTensor('int64', BigInt64Array.from([0n]), []);
    else if (name === 'use_cache_branch') feeds[name] = new OrtTensor('bool', [false], [1]);
  }
  feeds.inputs_embeds = new OrtTensor('float32', embeds, [1, length, hidden]);
  feeds.attention_mask = new OrtTensor('int64', new BigInt64Array(length).fill(1n), [1, length]);
  const flat = BigInt64Array.from(positions.flat());
  feeds.position_ids = new OrtTensor('int64', flat, positions.length === 3 ? [3, 1, length] : [1, length]);
  const out = await model.sessions.decoder_model_merged.run(feeds);
  return { logits: out.logits.data as Float32Array, dims: [...out.logits.dims] };
}

/** Rows `rows` of an L×D row-major array. */
export function gatherRows(data: Float32Array, hidden: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * hidden);
  for (let j = 0; j < rows.length; j++) out.set(data.subarray(rows[j]! * hidden, (rows[j]! + 1) * hidden), j * hidden);
  return out;
}

/** Position rows of a recorded position_ids feed: one bigint[] per axis. */
export function positionRows(feed: RecordedTensor): bigint[][] {
  const length = feed.dims.at(-1)!;
  const axes = feed.dims.length === 3 ? feed.dims[0]! : 1;
  return Array.from({ length: axes }, (_, a) => Array.from(feed.data.subarray(a * length, (a + 1) * length) as BigInt64Array));
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
