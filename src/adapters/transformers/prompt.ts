/**
 * The one prompt builder: renders a user prompt (with its images and earlier turns) through the model's chat
 * template and calls the processor the way the model family's recipe does. Chat templates come in two
 * shapes — list content (`[{ type: 'image' }, { type: 'text', text }]`, e.g. Qwen2-VL, SmolVLM, llava-hf)
 * and string content with the image placeholder written into the text (FastVLM's ChatML:
 * `'<image>' + question`). A list-content message fed to a string-only template renders as the list's text
 * with no placeholder, and the prompt then reaches the vision encoder with no image tokens; so the builder
 * renders, counts the image placeholders, and falls back to the other shape before giving up with an error.
 * Browser-safe: no Node built-ins, no import of transformers.js (it works on the processor given).
 */
import { ValidationError } from '../../core/errors.js';
import { families, familyOf } from './families.js';
import type { FamilyAdapter, ProcessorLike } from './types.js';

/** One earlier turn of a conversation. */
export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  text: string;
}

/** Options of {@link chatPrompt} and {@link chatInputs}. */
export interface ChatPromptOptions {
  /** Images attached to the conversation's first user turn. Default 1 ({@link chatInputs}: the images given). */
  images?: number;
  /**
   * Earlier turns, oldest first (e.g. `[{ role: 'user', text: q1 }, { role: 'assistant', text: a1 }]`); the
   * images belong to the first user turn. The new `prompt` is the last user turn.
   */
  history?: readonly ChatTurn[];
  /**
   * A chat template to use instead of the processor's, e.g. the contents of a repo's `chat_template.json` or
   * `chat_template.jinja`, which transformers.js 4.3.1's LLaVA processor does not read.
   */
  chatTemplate?: string;
  /** Extra options for the processor call (merged over the family's own, e.g. `{ do_image_splitting: false }`). */
  processorOptions?: Record<string, unknown>;
}

/** A rendered prompt and how to tokenize it. */
export interface ChatPrompt {
  text: string;
  /** Which message shape the template took: list content, string content, or no template (raw text). */
  style: 'list' | 'string' | 'raw';
  /** The family's processor options (for example FastVLM's `{ add_special_tokens: false }`). */
  processorOptions: Record<string, unknown>;
  /** The placeholder text of one image in `text`. */
  imageText: string;
}

type Style = ChatPrompt['style'];

function countOf(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

function familyFor(modelType: string): FamilyAdapter {
  return familyOf({ config: { model_type: modelType } });
}

function messagesFor(style: Exclude<Style, 'raw'>, prompt: string, images: number, history: readonly ChatTurn[], inline: string) {
  const turns: ChatTurn[] = [...history, { role: 'user', text: prompt }];
  const firstUser = turns.findIndex((t) => t.role === 'user');
  return turns.map((turn, i) => {
    const withImages = i === firstUser ? images : 0;
    if (style === 'string') return { role: turn.role, content: inline.repeat(withImages) + turn.text };
    return {
      role: turn.role,
      content: [...Array.from({ length: withImages }, () => ({ type: 'image' })), { type: 'text', text: turn.text }],
    };
  });
}

function render(processor: ProcessorLike, messages: unknown[], chatTemplate: string | undefined): string | Error {
  const apply = processor.apply_chat_template;
  if (typeof apply !== 'function') return new Error('the processor has no apply_chat_template');
  try {
    const text = apply.call(processor, messages, {
      add_generation_prompt: true,
      tokenize: false,
      ...(chatTemplate !== undefined ? { chat_template: chatTemplate } : {}),
    });
    return typeof text === 'string' ? text : new Error('apply_chat_template returned no string');
  } catch (error) {
    return error as Error;
  }
}

/**
 * Renders `prompt` (the last user turn, after `history`) with `images` images in the first user turn
 * through the processor's chat template (or `options.chatTemplate`), in the message shape the template
 * understands: list content first, then string content with the family's placeholder (`'<image>' + text`
 * for FastVLM). A processor without any chat template gets the family's placeholder and the raw prompt.
 *
 * @param processor the model's transformers.js processor.
 * @param modelType `config.model_type` (picks the family's placeholder and processor options).
 * @throws ValidationError (field `prompt` or a `history[i].text`) when the text contains an image
 *   placeholder or marker of this model (the processor would expand it as an image), and (field
 *   `chat_template`) when no message shape renders one placeholder per image.
 */
export function chatPrompt(processor: ProcessorLike, modelType: string, prompt: string, options: ChatPromptOptions = {}): ChatPrompt {
  const family = familyFor(modelType);
  const recipe = family.prompt;
  const images = options.images ?? 1;
  if (!Number.isInteger(images) || images < 0) throw new ValidationError('images', images, 'must be an integer ≥ 0');
  if (typeof prompt !== 'string') throw new ValidationError('prompt', prompt, 'must be a string');
  const history = options.history ?? [];
  const reserved = recipe.reserved(processor);
  const checkText = (field: string, text: unknown) => {
    if (typeof text !== 'string') throw new ValidationError(field, text, 'must be a string');
    const found = reserved.find((r) => text.includes(r));
    if (found !== undefined) {
      throw new ValidationError(
        field,
        text,
        `contains ${JSON.stringify(found)}, an image placeholder of this ${modelType} model; pass images separately ` +
          'and leave placeholders out of the text (the prompt builder inserts one per image)',
      );
    }
  };
  checkText('prompt', prompt);
  history.forEach((turn, i) => checkText(`history[${i}].text`, turn?.text));

  const imageText = recipe.imageText(processor);
  const inline = recipe.inlineImage(modelType, processor);
  const processorOptions = { ...recipe.processorOptions(modelType), ...options.processorOptions };
  const hasTemplate = Boolean(options.chatTemplate ?? processor.chat_template ?? processor.tokenizer?.chat_template);
  if (!hasTemplate) {
    // No chat template at all (a base model): the family's placeholder, then the turns' text.
    const turns = [...history.map((t) => t.text), prompt];
    return { text: inline.repeat(images) + turns.join('\n'), style: 'raw', processorOptions, imageText };
  }
  const attempts: string[] = [];
  for (const style of ['list', 'string'] as const) {
    const text = render(processor, messagesFor(style, prompt, images, history, inline), options.chatTemplate);
    if (text instanceof Error) {
      attempts.push(`${style} content: ${text.message.split('\n')[0]}`);
      continue;
    }
    const count = countOf(text, imageText);
    // A string-only template renders list content as the list's own text: the prompt is not in it verbatim
    // next to the template's markup, so it is rejected even when the image count happens to be right.
    if (count === images && (style === 'string' || !/["']type["']\s*:/.test(text))) {
      return { text, style, processorOptions, imageText };
    }
    attempts.push(`${style} content rendered ${count} × ${JSON.stringify(imageText)} for ${images} image(s)`);
  }
  throw new ValidationError(
    'chat_template',
    modelType,
    `renders no ${JSON.stringify(imageText)} for the image(s) given (${attempts.join('; ')}); ` +
      'pass options.chatTemplate with a template that writes one placeholder per image',
  );
}

/**
 * Processor inputs for `prompt` with `images`: {@link chatPrompt}, then the processor called in the family's
 * argument order with the family's options (FastVLM: `add_special_tokens: false`). Checks, before any model
 * session runs, that the tokenized prompt holds the image token.
 *
 * @throws ValidationError as {@link chatPrompt}; (field `processor`) when the processor returns no
 *   `input_ids` or no image token for the images (e.g. `llava_onevision`, which has no processor in
 *   transformers.js 4.3.1).
 */
export async function chatInputs(
  processor: ProcessorLike,
  modelType: string,
  images: unknown,
  prompt: string,
  options: ChatPromptOptions = {},
): Promise<Record<string, any>> {
  const list = images == null ? [] : Array.isArray(images) ? images : [images];
  const rendered = chatPrompt(processor, modelType, prompt, { ...options, images: list.length });
  const recipe = familyFor(modelType).prompt;
  const imageArgument = list.length === 0 ? null : list.length === 1 ? list[0] : list;
  const inputs = recipe.imagesFirst
    ? await processor(imageArgument, rendered.text, rendered.processorOptions)
    : await processor(rendered.text, imageArgument, rendered.processorOptions);
  const inputIds = inputs?.input_ids as { data?: ArrayLike<bigint> } | undefined;
  if (!inputIds?.data) {
    throw new ValidationError('processor', modelType, 'returned no input_ids (this model type has no working processor in transformers.js)');
  }
  if (list.length > 0) {
    const tokenizer = processor.tokenizer as { model?: { tokens_to_ids?: Map<string, number> } } | undefined;
    const id = tokenizer?.model?.tokens_to_ids?.get(rendered.imageText);
    if (id !== undefined && !Array.from(inputIds.data).some((x) => x === BigInt(id))) {
      throw new ValidationError('processor', modelType, `tokenized the prompt without the image token ${JSON.stringify(rendered.imageText)}`);
    }
  }
  return inputs;
}

/** Every model type the prompt builder knows (the same as the pruning adapters'). */
export const promptModelTypes: readonly string[] = Object.freeze(families.flatMap((f) => f.modelTypes));
