import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { encodeFloatArray, parseCase } from '../io/case-file.js';
import { select } from '../select.js';
import { UsageError } from './errors.js';

/**
 * Largest case file read (256 MiB): far above a real case (576×4096 float32 features are 12.6 MB as base64)
 * and below what one JavaScript string can hold.
 */
export const MAX_CASE_BYTES = 256 * 1024 * 1024;

function tooLarge(what: string): UsageError {
  return new UsageError(`case file ${what} is larger than the ${MAX_CASE_BYTES / 1024 / 1024} MiB limit`);
}

/** Reads a file, or standard input for `-`. @throws UsageError when it cannot be read or is over {@link MAX_CASE_BYTES}. */
export async function readInput(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of process.stdin) {
      bytes += (chunk as Buffer).length;
      if (bytes > MAX_CASE_BYTES) throw tooLarge('on standard input');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    if (statSync(path).size > MAX_CASE_BYTES) throw tooLarge(`"${path}"`);
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`case file "${path}" cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

export function registerSelect(program: Command): void {
  program
    .command('select')
    .description('run one selection from a case file (ALGORITHM.md format); prints {"method","keep","roles"} (and "features" for merging methods)')
    .argument('<case>', 'case file path, or - for standard input')
    .action(async (casePath: string) => {
      const { input, options } = parseCase(await readInput(casePath));
      const selection = select(input, options);
      const result: Record<string, unknown> = { method: options.method, keep: Array.from(selection.keep), roles: Array.from(selection.roles) };
      // Merging methods (visionzip) also return the merged features, n×D parallel to `keep`.
      if (selection.features) result.features = encodeFloatArray(selection.features);
      process.stdout.write(JSON.stringify(result) + '\n');
    });
}
