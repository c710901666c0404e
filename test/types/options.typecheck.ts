/**
 * Compile-time expectations (checked by options.test.ts with the TypeScript compiler, never run): every
 * `@ts-expect-error` line must really be a type error, so a loosened options type fails the test.
 */
import { select, type SelectOptions } from '../../src/index.js';
import { withTokenPruning, type TokenPruningOptions } from '../../src/entries/transformers.js';

declare const model: object;
declare const input: Parameters<typeof select>[0];

export function expectations(): void {
  withTokenPruning(model, { method: 'd2pruner', budget: 64, pivotRatio: 0.5, alpha: 0.5 });
  withTokenPruning(model, { method: 'random', budget: 64, seed: 3 });
  withTokenPruning(model, { method: 'fastv', budget: 0.25, positions: 'compact' });
  // @ts-expect-error a misspelt D2Pruner option
  withTokenPruning(model, { method: 'd2pruner', budget: 64, pivot_ratio: 0.5 });
  // @ts-expect-error an option of another method
  withTokenPruning(model, { method: 'fastv', budget: 64, seed: 1 });
  // @ts-expect-error an unknown method
  withTokenPruning(model, { method: 'd2prune', budget: 64 });
  // @ts-expect-error a method option of the wrong type
  withTokenPruning(model, { method: 'd2pruner', budget: 64, alpha: '0.5' });
  // @ts-expect-error the budget is required
  const missing: TokenPruningOptions = { method: 'd2pruner' };
  void missing;

  select(input, { method: 'dart', pivots: 4 });
  // @ts-expect-error a misspelt DART option
  select(input, { method: 'dart', pivot: 4 });
  const options: SelectOptions = { method: 'cdpruner', theta: 0.5 };
  void options;
}
