/** What the pipeline tests use: the public entries plus the adapter lookup. */
export * from '../../../src/index.js';
export * from '../../../src/entries/transformers.js';
export { familyOf } from '../../../src/adapters/transformers/index.js';
export { templateTokenIds } from '../../../src/adapters/transformers/prompt-text.js';
