import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { inFlagTerms } from '../../src/cli/errors.js';
import { ValidationError } from '../../src/core/errors.js';

/** A command with the flags `d2pruner eval` has (the parts these tests need). */
function evalLike(): Command {
  return new Command('eval').option('--data <file>').option('--methods <list>').option('--max-new-tokens <n>').option('--model <dir>');
}

describe('library errors in the CLI’s terms (one mapping for every command)', () => {
  it('names the flag of an option the library names', () => {
    expect(inFlagTerms(new ValidationError('methods', 'magic', 'method must be none or one of d2pruner'), evalLike())).toBe(
      '--methods: method must be none or one of d2pruner (got "magic")',
    );
    expect(inFlagTerms(new ValidationError('maxNewTokens', 0, 'must be ≥ 1'), evalLike())).toBe('--max-new-tokens: must be ≥ 1 (got 0)');
  });

  it('maps library names carried by a differently named flag, keeping the inner field', () => {
    expect(inFlagTerms(new ValidationError('cases[3].image', 'x.png', 'image not found'), evalLike())).toBe(
      '--data: cases[3].image: image not found (got "x.png")',
    );
    expect(inFlagTerms(new ValidationError('modelDir', '/m', 'is not a model folder'), evalLike())).toBe('--model: is not a model folder (got "/m")');
  });

  it('leaves fields that are no option of the command as the library wrote them', () => {
    const error = new ValidationError('options.alpha', 2, 'must be a number in [0, 1]');
    expect(inFlagTerms(error, evalLike())).toBe(error.message);
    expect(inFlagTerms(new ValidationError('methods', 'x', 'bad'), undefined)).toBe('methods: bad (got "x")');
  });
});
