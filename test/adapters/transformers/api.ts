/** What the pipeline tests use: the public API plus the adapter lookup. */
export * from '../../../src/index.js';
export { familyOf } from '../../../src/adapters/transformers/index.js';
