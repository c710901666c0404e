import { describe, expect, it, beforeAll } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { dtypeFlag } from '../../src/cli/flags.js';
import { ensureFixtureModel } from '../fixtures/models.js';
import { pngImage } from '../adapters/transformers/helpers.js';
import { runCli } from './run-cli.js';

describe('dtypeFlag (--dtype)', () => {
  it('reads one dtype for every session, or session=dtype pairs', () => {
    expect(dtypeFlag('q4')).toBe('q4');
    expect(dtypeFlag('vision_encoder=fp16,decoder_model_merged=q4')).toEqual({ vision_encoder: 'fp16', decoder_model_merged: 'q4' });
    expect(dtypeFlag('embed_tokens=q4f16')).toEqual({ embed_tokens: 'q4f16' });
  });

  it.each(['fp64', '', 'q4,fp16', 'vision=fp16', 'vision_encoder=fp64', 'vision_encoder=fp16,vision_encoder=q4', 'vision_encoder==q4', 'vision_encoder='])(
    'rejects %j naming --dtype',
    (text) => {
      expect(() => dtypeFlag(text)).toThrow(ValidationError);
      expect(() => dtypeFlag(text)).toThrow(/^--dtype: /);
    },
  );
});

describe('--dtype on generate, eval, visualize, calibrate', () => {
  let image: string;
  let model: string;
  beforeAll(async () => {
    image = (await pngImage(31, 64, 48)).path;
    model = ensureFixtureModel('llava');
  });

  it.each([
    ['generate', ['--image', 'x.png', '--prompt', 'x']],
    ['eval', ['--data', 'cases.jsonl', '--out', 'out']],
    ['visualize', ['--image', 'x.png', '--prompt', 'x', '--model', 'm']],
    ['calibrate', ['--model', 'm', '--images', 'i', '--out', 'p.json']],
  ])('%s exits 2 with one line naming --dtype for a bad value', (command, args) => {
    // A real image: visualize checks --image before the other flags.
    const result = runCli([command, ...(args as string[]).map((a) => (a === 'x.png' ? image : a)), '--dtype', 'vision_encoder=fp64']);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--dtype/);
    expect(lines[0]).toMatch(/vision_encoder=fp64/);
  });

  it('passes the value to the loader: a session without that file is named, a present one loads', () => {
    const missing = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Hi', '--dtype', 'decoder_model_merged=q4', '--max-new-tokens', '1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/dtype\.decoder_model_merged.*decoder_model_merged_q4\.onnx|decoder_model_merged.*q4/);
    const ok = runCli(['generate', '--model', model, '--image', image, '--prompt', 'Hi', '--dtype', 'fp32', '--budget', '9', '--max-new-tokens', '1', '--layer', '0', '--json']); // the 2-layer fixture has no layer 2 (the default)
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!).visualTokens).toEqual({ before: 36, after: 9 });
  });
});
