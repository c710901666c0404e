import { CommanderError, type Command } from 'commander';
import { ValidationError } from '../core/errors.js';

/** An input problem found by a CLI command (bad file, bad flag): exit code 2, one line on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Library option names that a command's flag carries under another name (the library names its options;
 * the CLI speaks in flags): `runEval`'s `cases`/`dataDir` come from `--data`, `modelDir` from `--model`.
 */
const FLAG_ALIASES: Readonly<Record<string, string>> = Object.freeze({ cases: 'data', dataDir: 'data', modelDir: 'model' });

/**
 * The message of a library ValidationError in the command's terms: when the field (or its root, before `.`
 * or `[`) is an option of `command`, it is named as that flag — `methods: …` becomes `--methods: …`,
 * `cases[3].image: …` becomes `--data: cases[3].image: …`. Other messages are returned as they are.
 */
export function inFlagTerms(error: ValidationError, command: Command | undefined): string {
  const root = error.field.split(/[.[]/)[0]!;
  const name = FLAG_ALIASES[root] ?? root;
  const option = command?.options.find((o) => o.attributeName() === name);
  if (!option?.long || !error.message.startsWith(`${error.field}: `)) return error.message;
  const rest = error.message.slice(error.field.length + 2);
  return error.field === root ? `${option.long}: ${rest}` : `${option.long}: ${error.field}: ${rest}`;
}

/**
 * The CLI's single exit path for failures: bad input (ValidationError, UsageError, a commander parse
 * error) prints one line and exits 2; anything else is an internal error and exits 1. `command` is the
 * subcommand that ran, so that library errors name its flags (see {@link inFlagTerms}).
 */
export function reportAndExit(error: unknown, command?: Command): never {
  if (error instanceof ValidationError) {
    process.stderr.write(`d2pruner: ${oneLine(inFlagTerms(error, command))}\n`);
    process.exit(2);
  }
  if (error instanceof UsageError) {
    process.stderr.write(`d2pruner: ${oneLine(error.message)}\n`);
    process.exit(2);
  }
  if (error instanceof CommanderError) {
    process.stderr.write(`d2pruner: ${oneLine(error.message.replace(/^error: /, ''))}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`d2pruner: internal error: ${oneLine(message)}\n`);
  if (process.env.D2PRUNER_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
