import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parsePrior, type PositionalPrior } from '../importance/prior.js';
import { UsageError } from './errors.js';

/** File helpers shared by the commands. */

/** Writes `data` to `path` through a temporary sibling and a rename, so no half-written file is left. */
export function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Reads a prior JSON file written by `d2pruner calibrate` (or `testbed prior`). @throws UsageError, ValidationError */
export function readPriorFile(path: string, flag = '--prior'): PositionalPrior {
  let json: string;
  try {
    json = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: "${path}" cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parsePrior(json, flag);
}
