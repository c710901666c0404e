import { CommanderError } from 'commander';
import { ValidationError } from '../core/errors.js';

/** An input problem found by a CLI command (bad file, bad flag): exit code 2, one line on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The CLI's single exit path for failures: bad input (ValidationError, UsageError, a commander parse
 * error) prints one line and exits 2; anything else is an internal error and exits 1.
 */
export function reportAndExit(error: unknown): never {
  if (error instanceof ValidationError || error instanceof UsageError) {
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
