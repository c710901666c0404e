import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ValidationError } from '../../core/errors.js';
import { familyOf } from './families.js';
import type { FamilyAdapter } from './types.js';
import { chatInputs, type ChatPromptOptions } from './prompt.js';

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
  /** The dtype each session was loaded in. */
  dtype: Record<SessionName, string>;
}

const SESSIONS = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'] as const;
export type SessionName = (typeof SESSIONS)[number];

/** transformers.js's dtype → ONNX file suffix (`utils/dtypes.js` DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const DTYPE_SUFFIXES: Readonly<Record<string, string>> = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
});
/** The dtypes `--dtype` / `dtype` accept. */
export const DTYPES: readonly string[] = Object.freeze(Object.keys(DTYPE_SUFFIXES));

/** A dtype for every session, one per session, or the dtypes allowed (the smallest file present wins). */
export type DtypeOption = string | readonly string[] | Partial<Record<SessionName, string>>;

export interface LoadOptions {
  /** ONNX Runtime device. Default `'cpu'`. */
  device?: string;
  /**
   * Precision of each session: a dtype (`fp32`, `fp16`, `q8`, `q4`, `q4f16`, …) for all, an object per
   * session, or a list of allowed dtypes. Default: what `config.json`'s `transformers.js_config.dtype`
   * asks for, else the smallest file present (of the allowed dtypes).
   */
  dtype?: DtypeOption;
}

function checkDtype(field: string, value: unknown): string {
  if (typeof value !== 'string' || !DTYPES.includes(value)) {
    throw new ValidationError(field, value, `must be one of ${DTYPES.join(', ')}`);
  }
  return value;
}

function fileBytes(onnxDir: string, files: Set<string>, base: string): number {
  let bytes = 0;
  for (const name of files) if (name === `${base}.onnx` || name.startsWith(`${base}.onnx_data`)) bytes += statSync(join(onnxDir, name)).size;
  return bytes;
}

/**
 * The dtype each session loads in: the `dtype` option (all sessions, per session, or the allowed set),
 * else `config["transformers.js_config"].dtype`, else the smallest file present among the allowed dtypes.
 * @throws ValidationError (field `dtype`, `dtype.<session>` or `model`) naming the missing file and the
 *   files present.
 */
export function resolveSessionDtypes(dir: string, config: Record<string, unknown>, option?: DtypeOption): Record<SessionName, string> {
  const onnxDir = join(dir, 'onnx');
  const files = existsSync(onnxDir) ? new Set(readdirSync(onnxDir)) : new Set<string>();
  const present = (session: string) =>
    DTYPES.filter((d) => files.has(`${session}${DTYPE_SUFFIXES[d]}.onnx`)).map((d) => `${d} (onnx/${session}${DTYPE_SUFFIXES[d]}.onnx)`);
  const configDtype = (config['transformers.js_config'] as { dtype?: unknown } | undefined)?.dtype;
  let allowed: readonly string[] = DTYPES;
  if (Array.isArray(option)) {
    if (option.length === 0) throw new ValidationError('dtype', option, `must name at least one of ${DTYPES.join(', ')}`);
    allowed = option.map((d, i) => checkDtype(`dtype[${i}]`, d));
  }
  const result = {} as Record<SessionName, string>;
  for (const session of SESSIONS) {
    let wanted: string | undefined;
    let field = 'dtype';
    if (typeof option === 'string') wanted = checkDtype('dtype', option);
    else if (option && !Array.isArray(option) && typeof option === 'object') {
      const value = (option as Record<string, unknown>)[session];
      if (value !== undefined) {
        field = `dtype.${session}`;
        wanted = checkDtype(field, value);
      }
    }
    if (wanted === undefined && !Array.isArray(option)) {
      const fromConfig = typeof configDtype === 'string' ? configDtype : (configDtype as Record<string, unknown> | undefined)?.[session];
      if (typeof fromConfig === 'string') {
        field = 'config.json transformers.js_config.dtype';
        wanted = checkDtype(field, fromConfig);
      }
    }
    if (wanted !== undefined) {
      if (!files.has(`${session}${DTYPE_SUFFIXES[wanted]}.onnx`)) {
        throw new ValidationError(field, wanted, `needs onnx/${session}${DTYPE_SUFFIXES[wanted]}.onnx, which ${dir} lacks; present: ${present(session).join(', ') || 'none'}`);
      }
      result[session] = wanted;
      continue;
    }
    const candidates = allowed.filter((d) => files.has(`${session}${DTYPE_SUFFIXES[d]}.onnx`));
    if (candidates.length === 0) {
      throw new ValidationError(
        Array.isArray(option) ? 'dtype' : 'model',
        Array.isArray(option) ? option : dir,
        `has no onnx/${session}*.onnx${Array.isArray(option) ? ` among the allowed dtypes` : ''}; present: ${present(session).join(', ') || 'none'}`,
      );
    }
    let best = candidates[0]!;
    for (const d of candidates) {
      if (fileBytes(onnxDir, files, `${session}${DTYPE_SUFFIXES[d]}`) < fileBytes(onnxDir, files, `${session}${DTYPE_SUFFIXES[best]}`)) best = d;
    }
    result[session] = best;
  }
  return result;
}

/**
 * A repo's chat template kept outside tokenizer_config.json: `chat_template.jinja`, or `chat_template.json`
 * (`{ "chat_template": … }`, as llava-hf repos ship it). transformers.js 4.3.1 reads neither for most
 * processors. Returns undefined when the folder has neither.
 */
export function readChatTemplateFile(dir: string): string | undefined {
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  const json = join(dir, 'chat_template.json');
  if (existsSync(json)) {
    try {
      const template = JSON.parse(readFileSync(json, 'utf8')).chat_template;
      if (typeof template === 'string') return template;
    } catch {
      throw new ValidationError('model', json, 'is not valid JSON with a "chat_template" string');
    }
  }
  return undefined;
}

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
 * `AutoProcessor`, on the CPU by default. The model type is checked against the supported families before
 * any ONNX session is created. Each session loads in the precision {@link resolveSessionDtypes} picks. A
 * chat template in `chat_template.jinja` / `chat_template.json` is given to the processor when its
 * tokenizer has none.
 *
 * @throws ValidationError (field `model`) when the folder or its config.json is missing, the model type
 *   has no pruning adapter or no processor in transformers.js (`llava_onevision`); (field `dtype…`) for a
 *   dtype that is unknown or has no file.
 */
export async function loadVisionLanguageModel(dir: string, options: LoadOptions = {}): Promise<LoadedVisionLanguageModel> {
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new ValidationError('model', dir, 'folder not found');
  let config: { model_type?: unknown } & Record<string, unknown>;
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
  if (config.model_type === 'llava_onevision') {
    throw new ValidationError(
      'model',
      dir,
      'model type "llava_onevision" has no processor in transformers.js 4.3.1 (AutoProcessor gives no input_ids); ' +
        'build input_ids and pixel_values yourself and pass the model to withTokenPruning',
    );
  }
  const dtype = resolveSessionDtypes(folder, config, options.dtype);
  const transformers = await importTransformers();
  transformers.env.allowRemoteModels = false;
  const processor = await transformers.AutoProcessor.from_pretrained(folder);
  if (!processor.chat_template && !processor.tokenizer?.chat_template) {
    const template = readChatTemplateFile(folder);
    if (template !== undefined) processor.chat_template = template;
  }
  const model = await transformers.AutoModelForImageTextToText.from_pretrained(folder, { dtype, device: options.device ?? 'cpu' });
  return { dir: folder, modelType: String(config.model_type), family, model, processor, transformers, dtype };
}

/**
 * The decoder file the loader picked (`onnx/decoder_model_merged<suffix>.onnx` for the session's dtype): the
 * `decoder` that `withTokenPruning({ layer })` splits.
 */
export function decoderFile(loaded: Pick<LoadedVisionLanguageModel, 'dir' | 'dtype'>): string {
  return join(loaded.dir, 'onnx', `decoder_model_merged${DTYPE_SUFFIXES[loaded.dtype.decoder_model_merged] ?? ''}.onnx`);
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

/**
 * Processor inputs for one prompt with one image (or several, or none): the prompt builder
 * ({@link chatInputs}) with the folder's chat template, message shape and the family's processor recipe.
 * @throws ValidationError for a prompt holding an image placeholder, or a template that renders none.
 */
export async function promptInputs(loaded: LoadedVisionLanguageModel, image: any, prompt: string, options: ChatPromptOptions = {}): Promise<any> {
  return chatInputs(loaded.processor, loaded.modelType, image, prompt, options);
}
