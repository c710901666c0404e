/**
 * Writes a generated testbed data set to a folder: PNG images, `cases.jsonl` (the evaluation/training
 * questions), `scenes.jsonl` (the objects of each scene), `labels.u8` (dense per-patch labels for training),
 * optionally `images.u8` (raw RGB, for fast training reads) and `meta.json`. Every file is written to a
 * temporary name first and renamed when complete.
 */
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  /** Output folder (created when missing). */
  out: string;
  /** Write PNG images (default true). */
  png?: boolean;
  /** Also write `images.u8`, all images as raw RGB bytes back to back (default false). */
  raw?: boolean;
  /** Called after each scene with the number done. */
  onProgress?: (done: number) => void;
}

/** Writes the data set; resolves to the number of cases written. */
export async function writeDataset(options: WriteDatasetOptions): Promise<number> {
  const { seed, count, out } = options;
  const questions = options.questions ?? 1;
  const png = options.png ?? true;
  validateGenerateOptions(seed, count, questions);
  await mkdir(join(out, 'images'), { recursive: true });
  const suffix = `.tmp-${process.pid}`;
  const files = ['cases.jsonl', 'scenes.jsonl', 'labels.u8', ...(options.raw ? ['images.u8'] : [])];
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  for (const file of files) handles.set(file, await open(join(out, file + suffix), 'w'));
  let written = 0;
  try {
    const pending: Promise<unknown>[] = [];
    for (let index = 0; index < count; index++) {
      const { scene, cases } = generateScene(seed, index, questions);
      const image = `images/${String(index).padStart(6, '0')}.png`;
      const lines = cases.map((c) => JSON.stringify({ image, ...c } satisfies Case)).join('\n') + '\n';
      await handles.get('cases.jsonl')!.write(lines);
      written += cases.length;
      await handles.get('scenes.jsonl')!.write(JSON.stringify({ image, objects: scene.objects }) + '\n');
      await handles.get('labels.u8')!.write(patchLabels(scene));
      if (options.raw) await handles.get('images.u8')!.write(scene.rgb);
      if (png) {
        const target = join(out, image);
        pending.push(
          sharp(Buffer.from(scene.rgb.buffer, scene.rgb.byteOffset, scene.rgb.byteLength), {
            raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 3 },
          })
            .png({ compressionLevel: 6 })
            .toFile(target + suffix)
            .then(() => rename(target + suffix, target)),
        );
        if (pending.length >= 16) await Promise.all(pending.splice(0));
      }
      options.onProgress?.(index + 1);
    }
    await Promise.all(pending);
  } catch (error) {
    for (const [file, handle] of handles) {
      await handle.close();
      await rm(join(out, file + suffix), { force: true });
    }
    throw error;
  }
  for (const [file, handle] of handles) {
    await handle.close();
    await rename(join(out, file + suffix), join(out, file));
  }
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
  await writeFile(join(out, 'meta.json' + suffix), JSON.stringify(meta, null, 2) + '\n');
  await rename(join(out, 'meta.json' + suffix), join(out, 'meta.json'));
  return written;
}
