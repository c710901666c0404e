import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { encodeFloatArray, parseCase } from '../io/case-file.js';
import { select } from '../select.js';
import { UsageError } from './errors.js';

/** Reads a file, or standard input for `-`. */
export async function readInput(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
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
