import { describe, expect, it } from 'vitest';
import {
  COLOR_NAMES,
  GRID,
  IMAGE_SIZE,
  LABEL_BYTES,
  SHAPES,
  TASKS,
  answerToBox,
  boxToAnswer,
  generateScene,
  iou,
  patchLabels,
  validateGenerateOptions,
} from '../../src/testbed/generate.js';
import { ValidationError } from '../../src/core/errors.js';

const SCENES = 200;
const all = Array.from({ length: SCENES }, (_, i) => generateScene(11, i, 1));

function hashBytes(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

describe('testbed generator', () => {
  it('is deterministic per seed and index, and scene i does not depend on how many are generated', () => {
    const a = generateScene(5, 17, 4);
    const b = generateScene(5, 17, 4);
    expect(hashBytes(a.scene.rgb)).toBe(hashBytes(b.scene.rgb));
    expect(a.cases).toEqual(b.cases);
    expect(a.scene.objects).toEqual(b.scene.objects);
  });

  it('gives different scenes for different seeds', () => {
    const a = generateScene(5, 3, 1);
    const b = generateScene(6, 3, 1);
    expect(hashBytes(a.scene.rgb)).not.toBe(hashBytes(b.scene.rgb));
  });

  it('cycles the four tasks and makes yes/no exactly half yes', () => {
    const tasks = all.flatMap((g) => g.cases.map((c) => c.task));
    for (const task of TASKS) expect(tasks.filter((t) => t === task).length).toBe(SCENES / 4);
    const yesno = all.flatMap((g) => g.cases.filter((c) => c.task === 'yesno'));
    expect(yesno.filter((c) => c.answer === 'yes').length).toBe(yesno.length / 2);
  });

  it('answers every question consistently with the scene objects', () => {
    for (const { scene, cases } of all) {
      for (const c of cases) {
        const words = c.prompt.replace('?', '').split(' ');
        if (c.task === 'yesno') {
          const [color, shape] = words.slice(3);
          const present = scene.objects.some((o) => o.color === color && o.shape === shape);
          expect(c.answer).toBe(present ? 'yes' : 'no');
        } else if (c.task === 'color') {
          const shape = words[4];
          const matches = scene.objects.filter((o) => o.shape === shape);
          expect(matches.length).toBe(1);
          expect(c.answer).toBe(matches[0]!.color);
        } else if (c.task === 'count') {
          const shape = words[2]!.replace(/s$/, '');
          expect(SHAPES).toContain(shape);
          expect(c.answer).toBe(String(scene.objects.filter((o) => o.shape === shape).length));
        } else {
          const [color, shape] = words.slice(3);
          const matches = scene.objects.filter((o) => o.color === color && o.shape === shape);
          expect(matches.length).toBe(1);
          expect(c.box).toEqual(matches[0]!.box);
          expect(iou(answerToBox(c.answer)!, c.box!)).toBeGreaterThan(0.5);
        }
      }
    }
  });

  it('keeps every box inside the image and matching the rendered pixels', () => {
    for (const { scene } of all) {
      expect(scene.objects.length).toBeGreaterThanOrEqual(1);
      scene.objects.forEach((o, k) => {
        const [x1, y1, x2, y2] = o.box;
        expect(x1).toBeGreaterThanOrEqual(0);
        expect(y1).toBeGreaterThanOrEqual(0);
        expect(x2).toBeLessThanOrEqual(IMAGE_SIZE);
        expect(y2).toBeLessThanOrEqual(IMAGE_SIZE);
        expect(x2 - x1).toBeGreaterThanOrEqual(13);
        let pixels = 0;
        for (let i = 0; i < scene.owner.length; i++) if (scene.owner[i] === k + 1) pixels++;
        expect(pixels).toBeGreaterThan(80);
      });
    }
  });

  it('asks binding negatives: some "no" questions name a colour and a shape that are both present', () => {
    const many = Array.from({ length: 400 }, (_, i) => generateScene(3, i, 4));
    let binding = 0;
    for (const { scene, cases } of many) {
      for (const c of cases.filter((q) => q.task === 'yesno' && q.answer === 'no')) {
        const [color, shape] = c.prompt.replace('?', '').split(' ').slice(3);
        if (scene.objects.some((o) => o.color === color) && scene.objects.some((o) => o.shape === shape)) binding++;
      }
    }
    expect(binding).toBeGreaterThan(50);
  });

  it('labels each object on at least one patch, with its shape, colour and box bins', () => {
    for (const { scene } of all.slice(0, 50)) {
      const labels = patchLabels(scene);
      expect(labels.length).toBe(GRID * GRID * LABEL_BYTES);
      scene.objects.forEach((o, k) => {
        let patches = 0;
        let centers = 0;
        for (let p = 0; p < GRID * GRID; p++) {
          const row = labels.subarray(p * LABEL_BYTES, (p + 1) * LABEL_BYTES);
          if (row[7] !== k + 1) continue;
          patches++;
          centers += row[2]!;
          expect(row[0]).toBe(SHAPES.indexOf(o.shape) + 1);
          expect(row[1]).toBe(COLOR_NAMES.indexOf(o.color) + 1);
          expect(row[3]).toBe(Math.round(o.box[0] / 4));
          expect(row[6]).toBe(Math.round(o.box[3] / 4));
        }
        expect(patches).toBeGreaterThan(0);
        expect(centers).toBeLessThanOrEqual(1);
      });
    }
  });

  it('round-trips box answers through coordinate tokens within 2 px', () => {
    const box = [33, 70, 101, 150];
    expect(boxToAnswer(box)).toBe('l8 t18 r25 b38');
    const back = answerToBox(boxToAnswer(box))!;
    back.forEach((v, i) => expect(Math.abs(v - box[i]!)).toBeLessThanOrEqual(2));
    expect(answerToBox('l8 t18 r25')).toBeUndefined();
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3, 6);
    expect(iou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
  });

  it('rejects bad arguments naming the field', () => {
    expect(() => validateGenerateOptions(-1, 10, 1)).toThrow(ValidationError);
    expect(() => validateGenerateOptions(1, 0, 1)).toThrow(/count/);
    expect(() => validateGenerateOptions(1, 10, 2.5)).toThrow(/questions/);
  });
});
