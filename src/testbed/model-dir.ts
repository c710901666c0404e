import { fileURLToPath } from 'node:url';

/**
 * The folder of the testbed VLM shipped with the package (`models/testbed`: a transformers.js LLaVA-layout
 * export with its tokenizer, processor and positional priors), for `from_pretrained` with
 * `env.allowRemoteModels = false` or {@link loadVisionLanguageModel}. Its files are also exported as
 * `d2pruner/models/testbed/*`.
 */
export function testbedModelDir(): string {
  // src/testbed and dist/testbed both sit two levels below the package root.
  return fileURLToPath(new URL('../../models/testbed', import.meta.url));
}
