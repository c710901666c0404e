/**
 * Output paths, checked before any work. Folders are created one level at a time instead of with
 * `mkdirSync(…, { recursive: true })`, which loops forever under `/proc`; writability is proven by creating
 * and removing a probe file (the permission bits say nothing for root or a read-only mount).
 */
import { lstatSync, mkdirSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';

function statOrUndefined(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return undefined; // a parent is a file: reported by the caller
    throw error;
  }
}

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** Throws naming `field` unless a file can be created in the existing folder `dir`. */
function checkWritableFolder(dir: string, field: string, shown: string): void {
  const probe = join(dir, `.d2pruner-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    writeFileSync(probe, '');
  } catch (error) {
    throw new ValidationError(field, shown, `folder ${dir} is not writable (${code(error)})`);
  }
  rmSync(probe, { force: true });
}

/** The nearest existing ancestor of `path` (itself included), and the missing levels below it, top first. */
function existingAncestor(path: string, field: string, shown: string, target = path): { ancestor: string; missing: string[] } {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    const link = statOrUndefined(current, false);
    if (link) {
      const resolved = statOrUndefined(current, true);
      if (!resolved) throw new ValidationError(field, shown, `${current} is a dangling symbolic link`);
      if (!resolved.isDirectory()) {
        throw new ValidationError(field, shown, current === target ? 'exists and is not a folder' : `is under ${current}, which is a file, not a folder`);
      }
      return { ancestor: current, missing };
    }
    const parent = dirname(current);
    if (parent === current) throw new ValidationError(field, shown, 'has no existing parent folder');
    missing.unshift(current);
    current = parent;
  }
}

/**
 * Checks an output folder before any work and creates it when missing (each level in turn). A file, a
 * dangling link or a path under a file in its place, or a folder where nothing can be written, is refused.
 * @param field the flag or option name used in errors (default `--out`).
 * @param shown the path as the user gave it, for errors, when `path` is derived from it (the parent of an
 *   output folder); errors then say `path` is under a file rather than that it is one.
 * @returns the absolute path.
 * @throws ValidationError naming `field`.
 */
export function prepareOutputFolder(path: string, field = '--out', shown?: string): string {
  if (typeof path !== 'string' || path === '') throw new ValidationError(field, path, 'must be a folder path');
  const absolute = resolve(path);
  const { missing } = existingAncestor(absolute, field, shown ?? path, shown === undefined ? absolute : resolve(shown));
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (error) {
      throw new ValidationError(field, shown ?? path, `folder ${level} cannot be created (${code(error)})`);
    }
  }
  checkWritableFolder(absolute, field, shown ?? path);
  return absolute;
}

/**
 * Checks an output file path before any work: it is not a folder or a dangling link, its folder exists and
 * a file can be created there. An existing file is overwritten later.
 * @returns the absolute path.
 * @throws ValidationError naming `field`.
 */
export function checkOutputFile(path: string, field = '--out'): string {
  if (typeof path !== 'string' || path === '') throw new ValidationError(field, path, 'must be a file path');
  const absolute = resolve(path);
  const link = statOrUndefined(absolute, false);
  if (link) {
    const target = statOrUndefined(absolute, true);
    if (!target) throw new ValidationError(field, path, 'is a dangling symbolic link');
    if (target.isDirectory()) throw new ValidationError(field, path, 'is a folder; give a file path');
    if (!target.isFile()) throw new ValidationError(field, path, 'exists and is not a regular file');
  }
  const folder = dirname(absolute);
  if (!link) {
    const { ancestor } = existingAncestor(absolute, field, path);
    if (ancestor !== folder) throw new ValidationError(field, path, `its folder ${folder} does not exist`);
  }
  checkWritableFolder(folder, field, path);
  return absolute;
}
