/**
 * The prompt text that prompt relevance compares visual tokens with: everything but special tokens, the chat
 * template's own tokens and the ids a model config names.
 */
import type { TokenizerLike, VisionLanguageModelLike } from './types.js';

/**
 * Special tokens and the tokens of the chat template itself (rendered around an empty user message with an
 * image), so that prompt relevance compares visual tokens with the user's own words only.
 */
export function templateTokenIds(tokenizerOrProcessor: TokenizerLike): number[] {
  const tokenizer = tokenizerOrProcessor.tokenizer ?? tokenizerOrProcessor;
  const special = new Set<number>(tokenizer.all_special_ids ?? []);
  if (typeof tokenizer.apply_chat_template === 'function') {
    for (const content of [
      [{ type: 'image' }, { type: 'text', text: '' }],
      '',
    ]) {
      try {
        const rendered = tokenizer.apply_chat_template([{ role: 'user', content }], {
          add_generation_prompt: true,
          tokenize: true,
          return_tensor: false,
        });
        let ids: unknown = rendered;
        if (ids && typeof ids === 'object' && 'input_ids' in ids) ids = (ids as { input_ids: unknown }).input_ids;
        if (ids && typeof ids === 'object' && 'tolist' in ids) ids = (ids as { tolist(): unknown }).tolist();
        const flat = (Array.isArray(ids) ? ids.flat(2) : []) as unknown[];
        for (const id of flat) if (typeof id === 'number' || typeof id === 'bigint') special.add(Number(id));
        break;
      } catch {
        // Templates that reject this message shape: try the next one, else keep the special ids only.
      }
    }
  }
  return [...special];
}

/** Special token ids named in a model config (image, video, vision markers, bos/eos/pad). */
export function configSpecialIds(model: VisionLanguageModelLike): Set<bigint> {
  const ids = new Set<bigint>();
  const add = (value: unknown) => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) ids.add(BigInt(value));
    else if (Array.isArray(value)) value.forEach(add);
  };
  const sources = [model.config, (model.config as any).text_config, (model as any).generation_config];
  for (const source of sources) {
    if (!source || typeof source !== 'object') continue;
    for (const [key, value] of Object.entries(source)) {
      if (/(^|_)(token_id|token_index|token_ids)$/.test(key)) add(value);
    }
  }
  return ids;
}
