import { describe, expect, it } from 'vitest';
import { normalizeAnswer, parseCases, scoreAnswer, type EvalCase } from '../../src/eval/score.js';
import { parseMethodSpec } from '../../src/eval/run.js';
import { ValidationError } from '../../src/core/errors.js';

const grounding: EvalCase = { image: 'a.png', prompt: 'where is the red circle?', answer: 'l10 t10 r20 b20', task: 'grounding', box: [40, 40, 80, 80] };

describe('eval scoring', () => {
  it('scores grounding by IoU ≥ 0.5 of the box named by coordinate tokens (4-px bins)', () => {
    expect(scoreAnswer(grounding, 'l10 t10 r20 b20')).toBe(true);
    expect(scoreAnswer(grounding, 'l11 t11 r21 b21')).toBe(true); // shifted 4 px: IoU 36²/(2·40²−36²) ≈ 0.68
    expect(scoreAnswer(grounding, 'l12 t12 r22 b22')).toBe(false); // shifted 8 px: IoU 32²/(2·40²−32²) ≈ 0.47
  });

  it('rejects grounding answers below IoU 0.5, incomplete or unparsable', () => {
    expect(scoreAnswer(grounding, 'l13 t13 r23 b23')).toBe(false); // shifted 12 px: IoU 784/2416 ≈ 0.32
    expect(scoreAnswer(grounding, 'l10 t10 r20')).toBe(false);
    expect(scoreAnswer(grounding, 'yes')).toBe(false);
  });

  it('scores other tasks by the normalised answer or its first word', () => {
    const c: EvalCase = { image: 'a.png', prompt: 'is there a red circle?', answer: 'yes', task: 'yesno' };
    expect(scoreAnswer(c, ' Yes.')).toBe(true);
    expect(scoreAnswer(c, 'yes, there is')).toBe(true);
    expect(scoreAnswer(c, 'no')).toBe(false);
    expect(scoreAnswer(c, 'yesno')).toBe(false);
    expect(scoreAnswer({ ...c, task: 'count', answer: '3' }, '3')).toBe(true);
    expect(scoreAnswer({ ...c, task: 'count', answer: '3' }, '13')).toBe(false);
    expect(normalizeAnswer('  Purple!! ')).toBe('purple');
  });

  it('parses cases files and names the bad line', () => {
    const text = '{"image":"i.png","prompt":"p","answer":"yes","task":"yesno"}\n\n' + JSON.stringify(grounding) + '\n';
    expect(parseCases(text)).toHaveLength(2);
    expect(() => parseCases('{"image":"i.png"}')).toThrow(/line 1.*prompt/);
    expect(() => parseCases('not json')).toThrow(ValidationError);
    expect(() => parseCases('{"image":"i.png","prompt":"p","answer":"l1 t1 r2 b2","task":"grounding"}')).toThrow(/box/);
    expect(() => parseCases('\n')).toThrow(/no cases/);
  });

  it('parses method settings with options and prior=none', () => {
    expect(parseMethodSpec('none')).toEqual({ label: 'none', method: 'none', options: {}, usePrior: true });
    expect(parseMethodSpec('d2pruner:alpha=0.5,pivotRatio=0.9')).toEqual({
      label: 'd2pruner:alpha=0.5,pivotRatio=0.9',
      method: 'd2pruner',
      options: { alpha: 0.5, pivotRatio: 0.9 },
      usePrior: true,
    });
    expect(parseMethodSpec('d2pruner:prior=none').usePrior).toBe(false);
    expect(() => parseMethodSpec('magic')).toThrow(/^methods: /);
    expect(() => parseMethodSpec('d2pruner:alpha')).toThrow(/key=value/);
    expect(() => parseMethodSpec('d2pruner:prior=other')).toThrow(/prior=none/);
  });
});
