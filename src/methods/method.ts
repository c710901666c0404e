import type { OptionSchema } from '../core/options.js';
import type { PreparedInput, Selection } from '../core/types.js';
import type { InputNeeds } from '../core/validate.js';

/** Options of methods that take none. */
export type NoOptions = Record<never, never>;
export const NO_OPTIONS: Readonly<NoOptions> = Object.freeze({});

/** A selection method: its options, what it needs from the input, and the pure function that runs it. */
export interface MethodDefinition<O extends object = object> {
  readonly name: string;
  /** One line on the rule, for help texts and the README. */
  readonly summary: string;
  /** Where the method comes from. */
  readonly paper: string;
  readonly defaults: Readonly<O>;
  readonly schema: OptionSchema<O>;
  /** What the input must carry for these options (validated before `run`). */
  needs(options: O): InputNeeds;
  /** Runs the method on validated input. Never mutates the input. */
  run(input: PreparedInput, options: O): Selection;
}
