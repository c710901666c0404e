import { describe, expect, it } from 'vitest';
import { calibratePrior } from '../../src/adapters/transformers/calibrate.js';
import { ValidationError } from '../../src/core/errors.js';
import { scoreAnswer } from '../../src/eval/score.js';
import { priorForLayout, resizeBilinear, type PositionalPrior } from '../../src/importance/prior.js';
import { generateScene } from '../../src/testbed/generate.js';
import { renderOverlay } from '../../src/visualize/overlay.js';

/** Runs `fn` and returns the ValidationError it throws (failing when it throws anything else or nothing). */
async function validationError(fn: () => unknown): Promise<ValidationError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

const prior: PositionalPrior = { grid: { rows: 2, cols: 2 }, values: Float32Array.from([1, 2, 3, 4]), provider: 'promptRelevance', prompt: 'x', imageCount: 1 } as PositionalPrior;
const fakeModel = { config: { model_type: 'llava' } };

describe('exported helpers validate their arguments with a ValidationError naming the argument', () => {
  it('calibratePrior', async () => {
    expect((await validationError(() => calibratePrior(fakeModel, 42 as never, { prompt: 'x', modelId: 'm' }))).field).toBe('inputs');
    expect((await validationError(() => calibratePrior(null as never, [], { prompt: 'x', modelId: 'm' }))).field).toBe('model');
    expect((await validationError(() => calibratePrior(fakeModel, [], null as never))).field).toBe('options');
  });
  it('renderOverlay', async () => {
    const error = await validationError(() => renderOverlay(null as never));
    expect(error.field).toBe('options');
    expect(error.message).toBe('options: must be an object { image, tokens, grid, panels, … } (got null)');
  });
  it('scoreAnswer', () => {
    expect(() => scoreAnswer(null as never, 'yes')).toThrow(/^case: must be an evaluation case/);
    expect(() => scoreAnswer({ image: 'a.png', prompt: 'p', answer: 'yes', task: 'yesno' }, null as never)).toThrow(/^answer: must be a string/);
    expect(() => scoreAnswer({ image: 'a.png', prompt: 'p', answer: 'yes' } as never, 'yes')).toThrow(/^case\.task: /);
  });
  it('priorForLayout', async () => {
    expect((await validationError(() => priorForLayout(prior, null as never))).field).toBe('layout');
    expect((await validationError(() => priorForLayout(prior, { tokens: 4, tiles: [{ start: 2, rows: 2, cols: 2 }] }))).field).toBe('layout.tiles[0]');
    expect((await validationError(() => priorForLayout(null as never, { tokens: 4, tiles: [] }))).field).toBe('prior');
    expect(Array.from(priorForLayout(prior, { tokens: 5, tiles: [{ start: 1, rows: 2, cols: 2 }] }))).toEqual([2.5, 1, 2, 3, 4]);
  });
  it('resizeBilinear with a source that does not fill its grid', async () => {
    const error = await validationError(() => resizeBilinear([1, 2, 3], { rows: 2, cols: 2 }, { rows: 3, cols: 3 }));
    expect(error.message).toBe('values: must fill the 2×2 source grid (4 values) (got array of length 3)');
    expect((await validationError(() => resizeBilinear([1], { rows: 0, cols: 1 }, { rows: 1, cols: 1 }))).field).toBe('from.rows');
    expect((await validationError(() => resizeBilinear([1], { rows: 1, cols: 1 }, null as never))).field).toBe('to');
    expect(Array.from(resizeBilinear([1, 2, 3, 4], { rows: 2, cols: 2 }, { rows: 1, cols: 1 }))).toEqual([2.5]);
  });
  it('generateScene', async () => {
    expect((await validationError(() => generateScene(-1, 0))).field).toBe('seed');
    expect((await validationError(() => generateScene(1, -1))).field).toBe('index');
    expect((await validationError(() => generateScene(1, 0.5))).field).toBe('index');
    expect((await validationError(() => generateScene(1, 0, 0))).field).toBe('questions');
    expect(generateScene(1, 0, 2).cases).toHaveLength(2);
  });
});
