/**
 * The resume checkpoint of `d2pruner eval`, keyed by content: a run resumes only from outcomes computed on
 * the same cases, images, model files, prior and settings. The file is JSON lines: a header
 * `{"checkpoint": 1, "key": "<sha256>"}` and then one `{"index", "case", "outcomes"}` line per finished case,
 * where `case` is the sha256 of the case's JSON and of its image's bytes. Anything that does not fit is not
 * trusted: a header with another key starts the file afresh, and a case line that does not parse, has another
 * case hash, or whose outcomes do not match the settings one for one means that case runs again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Format version written in the header line. */
const VERSION = 1;
/** Model files up to this size are hashed whole; larger ones by size and modification time. */
const HASH_WHOLE_BYTES = 64 * 1024 * 1024;

/** One method × budget result of one case. */
export interface Outcome {
  label: string;
  budget: number | 'all';
  right: boolean;
  ms: number;
}

/** sha256 of a string or bytes, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A fingerprint of a model folder's content: every file's relative path and, for files up to 64 MiB, the
 * hash of its bytes (size and modification time for larger ones), so a model rewritten in place changes it.
 */
export function modelFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) {
        hash.update(`${relative(dir, path)}\0${stat.size}\0`);
        hash.update(stat.size <= HASH_WHOLE_BYTES ? sha256(readFileSync(path)) : String(stat.mtimeMs));
        hash.update('\n');
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** The hash of one case: its JSON and the bytes of its image (so a regenerated image changes it). */
export function caseHash(evalCase: unknown, imageBytes: Uint8Array): string {
  return sha256(`${JSON.stringify(evalCase)}\0${sha256(imageBytes)}`);
}

/** The settings every outcome line must match, in order. */
export interface ExpectedOutcomes {
  label: string;
  budget: number | 'all';
}

/** The header line of a checkpoint with this key. */
export function checkpointHeader(key: string): string {
  return JSON.stringify({ checkpoint: VERSION, key }) + '\n';
}

/** One finished case, as a checkpoint line. */
export function checkpointLine(index: number, hash: string, outcomes: Outcome[]): string {
  return JSON.stringify({ index, case: hash, outcomes }) + '\n';
}

/** What a checkpoint file holds for a run with `key`. */
export interface CheckpointContent {
  /** Whether the file exists and its header carries `key` (otherwise it must be started afresh). */
  matches: boolean;
  /** Trusted outcomes by case index, with the case hash they were computed on. */
  done: Map<number, { hash: string; outcomes: Outcome[] }>;
  /** Lines that parsed as JSON but did not fit (counted, never trusted). */
  rejected: number;
}

/**
 * Reads a checkpoint for a run with `key` over `cases` cases and the settings `expected`.
 * Lines cut by an interruption, lines of another shape and lines whose outcomes do not match `expected` one
 * for one are left out (those cases run again).
 */
export function readCheckpoint(path: string, key: string, cases: number, expected: ExpectedOutcomes[]): CheckpointContent {
  const done = new Map<number, { hash: string; outcomes: Outcome[] }>();
  if (!existsSync(path)) return { matches: false, done, rejected: 0 };
  const lines = readFileSync(path, 'utf8').split('\n');
  let header: unknown;
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    return { matches: false, done, rejected: 0 };
  }
  const h = header as { checkpoint?: unknown; key?: unknown } | null;
  if (!h || typeof h !== 'object' || h.checkpoint !== VERSION || h.key !== key) return { matches: false, done, rejected: 0 };
  let rejected = 0;
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      continue; // a line cut by an interruption: that case runs again
    }
    if (!fitsRecord(record, cases, expected)) {
      rejected++;
      continue;
    }
    done.set(record.index, { hash: record.case, outcomes: record.outcomes });
  }
  return { matches: true, done, rejected };
}

function fitsRecord(record: unknown, cases: number, expected: ExpectedOutcomes[]): record is { index: number; case: string; outcomes: Outcome[] } {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return false;
  const { index, case: hash, outcomes } = record as Record<string, unknown>;
  if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= cases) return false;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return false;
  if (!Array.isArray(outcomes) || outcomes.length !== expected.length) return false;
  return outcomes.every((o: unknown, k) => {
    if (o === null || typeof o !== 'object') return false;
    const { label, budget, right, ms } = o as Record<string, unknown>;
    return label === expected[k]!.label && budget === expected[k]!.budget && typeof right === 'boolean' && typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
  });
}
