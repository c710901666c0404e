import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ValidationError } from '../../core/errors.js';
import { familyOf } from './families.js';
import type { FamilyAdapter } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js is an optional peer dependency, loaded dynamically */

/** A model folder loaded offline with its processor. */
export interface LoadedVisionLanguageModel {
  dir: string;
  modelType: string;
  family: FamilyAdapter;
  model: any;
  processor: any;
  /** The `@huggingface/transformers` module. */
  transformers: any;
}

const SESSIONS = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'] as const;
/** File suffix → dtype name, in order of preference (full precision first). */
const DTYPE_SUFFIXES: readonly [string, string][] = [
  ['', 'fp32'],
  ['_fp16', 'fp16'],
  ['_quantized', 'q8'],
  ['_int8', 'int8'],
  ['_uint8', 'uint8'],
  ['_q4f16', 'q4f16'],
  ['_q4', 'q4'],
  ['_bnb4', 'bnb4'],
];

/** Imports `@huggingface/transformers`, or explains how to install it. */
export async function importTransformers(field = 'model'): Promise<any> {
  try {
    return await import('@huggingface/transformers');
  } catch {
    throw new ValidationError(field, '@huggingface/transformers', 'is not installed (npm install @huggingface/transformers)');
  }
}

/**
 * Loads a local transformers.js model folder (no network) with `AutoModelForImageTextToText` and
 * `AutoProcessor`, on the CPU. The model type is checked against the supported families before any ONNX
 * session is created. Each session uses the most precise ONNX file the folder has (fp32, fp16, q8, …).
 *
 * @throws ValidationError (field `model`) when the folder or its config.json is missing or the model type
 *   has no pruning adapter.
 */
export async function loadVisionLanguageModel(dir: string, options: { device?: string } = {}): Promise<LoadedVisionLanguageModel> {
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new ValidationError('model', dir, 'folder not found');
  let config: { model_type?: unknown };
  try {
    config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
  } catch {
    throw new ValidationError('model', dir, 'is not a model folder (no readable config.json)');
  }
  let family: FamilyAdapter;
  try {
    family = familyOf({ config });
  } catch (error) {
    const reason = (error as Error).message.replace(/^model\.config\.model_type: /, '').replace(/ \(got .*\)$/, '');
    throw new ValidationError('model', dir, `model type ${JSON.stringify(config.model_type)} ${reason}`);
  }
  const onnxDir = join(folder, 'onnx');
  const files = existsSync(onnxDir) ? new Set(readdirSync(onnxDir)) : new Set<string>();
  const dtype: Record<string, string> = {};
  for (const session of SESSIONS) {
    const found = DTYPE_SUFFIXES.find(([suffix]) => files.has(`${session}${suffix}.onnx`));
    if (!found) throw new ValidationError('model', dir, `has no onnx/${session}*.onnx`);
    dtype[session] = found[1];
  }
  const transformers = await importTransformers();
  transformers.env.allowRemoteModels = false;
  const processor = await transformers.AutoProcessor.from_pretrained(folder);
  const model = await transformers.AutoModelForImageTextToText.from_pretrained(folder, { dtype, device: options.device ?? 'cpu' });
  return { dir: folder, modelType: String(config.model_type), family, model, processor, transformers };
}

/** Reads an image file. @throws ValidationError (field `image`) when it is missing or not a readable image. */
export async function readImage(transformers: any, path: string, field = 'image'): Promise<any> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new ValidationError(field, path, 'file not found');
  try {
    return await transformers.RawImage.read(path);
  } catch (error) {
    throw new ValidationError(field, path, `is not a readable image (${(error as Error).message.split('\n')[0]})`);
  }
}

/** Placeholder text of one image in a prompt, per family, when the folder has no chat template. */
const IMAGE_PLACEHOLDER: Record<string, string> = {
  llava: '<image>\n',
  qwen2_vl: '<|vision_start|><|image_pad|><|vision_end|>',
  idefics3: '<image>',
};

/**
 * Processor inputs for one prompt with one image: the folder's chat template (user turn with the image
 * then the text, generation prompt added) and the family's processor argument order.
 */
export async function promptInputs(loaded: LoadedVisionLanguageModel, image: any, prompt: string): Promise<any> {
  const { processor, family } = loaded;
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: prompt }] }];
  let text: string;
  try {
    text = processor.apply_chat_template(messages, { add_generation_prompt: true });
  } catch {
    text = `${IMAGE_PLACEHOLDER[family.family] ?? '<image>'}${prompt}`;
  }
  return family.family === 'llava' ? processor(image, text) : processor(text, image);
}
