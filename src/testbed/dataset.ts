/**
 * Writes a generated testbed data set to a folder: PNG images, `cases.jsonl` (the evaluation/training
 * questions), `scenes.jsonl` (the objects of each scene), `labels.u8` (dense per-patch labels for training),
 * optionally `images.u8` (raw RGB, for fast training reads) and `meta.json`. The whole data set is written
 * into a temporary sibling folder and swapped in when complete, so a folder holds one data set or the one it
 * held before, never a mix; an interrupted run removes its temporary folder, and one left by a killed run is
 * removed by the next run into the same place.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { prepareOutputFolder } from '../io/folders.js';
import sharp from 'sharp';
import {
  GRID,
  IMAGE_SIZE,
  LABEL_BYTES,
  LABEL_FIELDS,
  PATCH_SIZE,
  COORD_BIN,
  generateScene,
  patchLabels,
  validateGenerateOptions,
  type Case,
} from './generate.js';

/** Options of {@link writeDataset}. */
export interface WriteDatasetOptions {
  seed: number;
  /** Number of scenes (images). */
  count: number;
  /** Questions per scene (default 1: tasks cycle, so N scenes give N/4 cases of each task). */
  questions?: number;
  /**
   * Output folder: created when missing, replaced as a whole when it holds a data set (or nothing). A folder
   * with other content is refused.
   */
  out: string;
  /** Write PNG images (default true). */
  png?: boolean;
  /** Also write `images.u8`, all images as raw RGB bytes back to back (default false). */
  raw?: boolean;
  /** Called after each scene with the number done. */
  onProgress?: (done: number) => void;
  /** Aborting stops the run between scenes: the temporary folder is removed and the output left as it was. */
  signal?: AbortSignal;
}

/** Files that mark a folder as a data set this function may replace. */
const DATASET_MARKERS = ['meta.json', 'cases.jsonl', 'scenes.jsonl'];

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `.NAME.tmp-PID-…` / `.NAME.old-PID-…` siblings left by runs that were killed (their PID is gone). */
async function removeStaleSiblings(parent: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  for (const entry of readdirSync(parent)) {
    if (!entry.startsWith(prefix)) continue;
    const match = /^(tmp|old)-(\d+)-[a-z0-9]+$/.exec(entry.slice(prefix.length));
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid !== process.pid && pidAlive(pid)) continue;
    await rm(join(parent, entry), { recursive: true, force: true });
  }
}

/**
 * Checks a data set output folder before any work: its parent is created when missing and must be writable
 * (the temporary sibling lives there); the folder itself must be missing, empty, or hold a data set, so that
 * replacing it loses nothing else.
 * @param field the name used in errors (`--out` in the CLI).
 * @returns whether the folder exists (and will be replaced).
 * @throws ValidationError naming `field`.
 */
export function checkDatasetOutput(out: string, field = 'out'): boolean {
  if (typeof out !== 'string' || out === '') throw new ValidationError(field, out, 'must be a folder path');
  const absolute = resolve(out);
  prepareOutputFolder(dirname(absolute), field, out);
  let stat;
  try {
    stat = lstatSync(absolute);
  } catch {
    return false;
  }
  if (stat.isSymbolicLink()) throw new ValidationError(field, out, 'is a symbolic link; give the folder itself');
  if (!stat.isDirectory()) throw new ValidationError(field, out, 'exists and is not a folder');
  const entries = readdirSync(absolute);
  if (entries.length > 0 && !DATASET_MARKERS.some((m) => entries.includes(m))) {
    throw new ValidationError(field, out, `is a folder that does not hold a data set (no ${DATASET_MARKERS.join(', ')}); refusing to replace it`);
  }
  return true;
}

/**
 * Writes the data set; resolves to the number of cases written.
 * @throws ValidationError for bad options or an output folder that cannot be replaced; an Error named
 *   `AbortError` when `signal` aborts (nothing of the run is left behind).
 */
export async function writeDataset(options: WriteDatasetOptions): Promise<number> {
  const { seed, count } = options;
  const questions = options.questions ?? 1;
  const png = options.png ?? true;
  validateGenerateOptions(seed, count, questions);
  const replacing = checkDatasetOutput(options.out);
  const out = resolve(options.out);
  const parent = dirname(out);
  const name = basename(out);
  await removeStaleSiblings(parent, name);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const tmp = join(parent, `.${name}.tmp-${tag}`);
  await mkdir(tmp);
  let written = 0;
  const pending: Promise<unknown>[] = [];
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  try {
    if (png) await mkdir(join(tmp, 'images'));
    const files = ['cases.jsonl', 'scenes.jsonl', 'labels.u8', ...(options.raw ? ['images.u8'] : [])];
    for (const file of files) handles.set(file, await open(join(tmp, file), 'w'));
    for (let index = 0; index < count; index++) {
      if (options.signal?.aborted) throw abortError();
      const { scene, cases } = generateScene(seed, index, questions);
      const image = `images/${String(index).padStart(6, '0')}.png`;
      const lines = cases.map((c) => JSON.stringify({ image, ...c } satisfies Case)).join('\n') + '\n';
      await handles.get('cases.jsonl')!.write(lines);
      written += cases.length;
      await handles.get('scenes.jsonl')!.write(JSON.stringify({ image, objects: scene.objects }) + '\n');
      await handles.get('labels.u8')!.write(patchLabels(scene));
      if (options.raw) await handles.get('images.u8')!.write(scene.rgb);
      if (png) {
        pending.push(
          sharp(Buffer.from(scene.rgb.buffer, scene.rgb.byteOffset, scene.rgb.byteLength), {
            raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 3 },
          })
            .png({ compressionLevel: 6 })
            .toFile(join(tmp, image)),
        );
        if (pending.length >= 16) await Promise.all(pending.splice(0));
      }
      options.onProgress?.(index + 1);
    }
    await Promise.all(pending.splice(0));
    for (const handle of handles.values()) await handle.close();
    handles.clear();
    const meta = {
      seed,
      count,
      questions,
      cases: written,
      imageSize: IMAGE_SIZE,
      patchSize: PATCH_SIZE,
      grid: GRID,
      coordBin: COORD_BIN,
      labelBytes: LABEL_BYTES,
      labelFields: LABEL_FIELDS,
      rawImages: Boolean(options.raw),
    };
    await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    if (options.signal?.aborted) throw abortError();
    // The swap: the old folder steps aside, the new one takes its name, the old one is removed.
    if (replacing) {
      const old = join(parent, `.${name}.old-${tag}`);
      await rename(out, old);
      try {
        await rename(tmp, out);
      } catch (error) {
        await rename(old, out);
        throw error;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, out);
    }
  } catch (error) {
    await Promise.allSettled(pending);
    for (const handle of handles.values()) await handle.close().catch(() => {});
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return written;
}

function abortError(): Error {
  const error = new Error('data set generation was interrupted; the output folder was left as it was');
  error.name = 'AbortError';
  return error;
}
