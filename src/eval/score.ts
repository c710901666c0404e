/**
 * Reading case files and scoring answers for `d2pruner eval`. A case file is JSON lines
 * `{ "image", "prompt", "answer", "task", "box"? }` (what `d2pruner testbed generate` writes); `image` is
 * relative to the file's folder. yes/no, colour and count answers are right when they match after
 * normalisation; grounding answers are right when the box they name has IoU ≥ 0.5 with `box`.
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../core/errors.js';
import { answerToBox, iou } from '../testbed/generate.js';

/** One evaluation question. */
export interface EvalCase {
  image: string;
  prompt: string;
  answer: string;
  task: string;
  box?: [number, number, number, number];
}

/** IoU a grounding answer needs to count as right. */
export const GROUNDING_IOU = 0.5;

/**
 * Parses a cases file's text (JSON lines; blank lines ignored).
 * @throws ValidationError naming the line when a line is not JSON or lacks a field, or a grounding case has no box.
 */
export function parseCases(text: string, field = 'cases'): EvalCase[] {
  const cases: EvalCase[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: Partial<EvalCase>;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ValidationError(`${field} line ${i + 1}`, line, 'is not JSON');
    }
    for (const key of ['image', 'prompt', 'answer', 'task'] as const) {
      if (typeof value[key] !== 'string') throw new ValidationError(`${field} line ${i + 1}`, line, `needs a string "${key}"`);
    }
    if (value.task === 'grounding') {
      const box = value.box;
      if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => Number.isFinite(v))) {
        throw new ValidationError(`${field} line ${i + 1}`, line, 'a grounding case needs "box": [x1, y1, x2, y2]');
      }
    }
    cases.push(value as EvalCase);
  });
  if (cases.length === 0) throw new ValidationError(field, text.slice(0, 40), 'holds no cases');
  return cases;
}

/** Reads and parses a cases file. @throws ValidationError when it cannot be read or parsed. */
export function readCases(path: string): EvalCase[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ValidationError('cases', path, 'cannot be read');
  }
  return parseCases(text);
}

/** Lower case, punctuation removed, spaces collapsed: `" Yes."` → `"yes"`. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Whether `answer` (the model's generated text) answers `c` correctly: grounding by IoU ≥ 0.5 of the box
 * its coordinate tokens name (`l12 t5 r20 b13`, 4-px bins); other tasks by the normalised text, or its
 * first word, equal to the expected answer.
 */
export function scoreAnswer(c: EvalCase, answer: string): boolean {
  if (c === null || typeof c !== 'object') throw new ValidationError('case', c, 'must be an evaluation case { prompt, answer, task, box? }');
  if (typeof c.task !== 'string') throw new ValidationError('case.task', c.task, 'must be a string');
  if (c.task !== 'grounding' && typeof c.answer !== 'string') throw new ValidationError('case.answer', c.answer, 'must be a string');
  if (typeof answer !== 'string') throw new ValidationError('answer', answer, 'must be a string (the generated text)');
  if (c.task === 'grounding') {
    const box = answerToBox(answer);
    return box !== undefined && c.box !== undefined && iou(box, c.box) >= GROUNDING_IOU;
  }
  const got = normalizeAnswer(answer);
  const want = normalizeAnswer(c.answer);
  return got === want || got.split(' ')[0] === want;
}
