import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { registerSplit } from '../../src/cli/split.js';
import { ensureFixtureModel } from '../fixtures/models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const scratch = mkdtempSync(join(tmpdir(), 'd2p-split-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function runSplit(args: string[]): Promise<string> {
  const program = new Command('d2pruner').exitOverride();
  registerSplit(program);
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (chunks.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'd2pruner', 'split', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

describe('d2pruner split', () => {
  it('writes the testbed decoder split at layer 2 into --out; the parts load with the expected interface', async () => {
    const out = join(scratch, 'testbed');
    const printed = await runSplit(['--model', join(ROOT, 'models/testbed'), '--layer', '2', '--out', out]);
    expect(printed).toContain('cut: /layers.1/Add_4_output_0 (residual stream entering layer 2 of 4)');
    expect(readdirSync(out).sort()).toEqual(['decoder_model_merged.layer2.prefix.onnx', 'decoder_model_merged.layer2.suffix.onnx']);
    const prefix = await ort.InferenceSession.create(join(out, 'decoder_model_merged.layer2.prefix.onnx'));
    const suffix = await ort.InferenceSession.create(join(out, 'decoder_model_merged.layer2.suffix.onnx'));
    expect(prefix.outputNames).toEqual(['hidden_states', 'attention', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    expect(suffix.inputNames[0]).toBe('hidden_states');
    expect(suffix.outputNames).toEqual(['logits', 'present.2.key', 'present.2.value', 'present.3.key', 'present.3.value']);
  });

  it('splits a fixture into --out, hard-linking any external data file instead of copying it', async () => {
    const dir = ensureFixtureModel('idefics3');
    const files = readdirSync(join(dir, 'onnx'));
    const data = files.find((f) => f.startsWith('decoder_model_merged') && f.endsWith('.onnx_data'));
    const out = join(scratch, 'idefics3');
    await runSplit(['--model', dir, '--layer', '1', '--out', out]);
    if (data) {
      expect(statSync(join(out, data)).ino).toBe(statSync(join(dir, 'onnx', data)).ino);
    } else {
      expect(readdirSync(out).filter((f) => f.endsWith('.onnx_data'))).toEqual([]);
    }
    const suffix = await ort.InferenceSession.create(join(out, 'decoder_model_merged.layer1.suffix.onnx'));
    expect(suffix.outputNames[0]).toBe('logits');
  });

  it('rejects a missing or non-integer --layer and a layer past the last one', async () => {
    await expect(runSplit(['--model', join(ROOT, 'models/testbed')])).rejects.toThrow(/--layer must be an integer/);
    await expect(runSplit(['--model', join(ROOT, 'models/testbed'), '--layer', 'two'])).rejects.toThrow(/--layer must be an integer/);
    await expect(runSplit(['--model', join(ROOT, 'models/testbed'), '--layer', '4', '--out', join(scratch, 'bad')])).rejects.toThrow(/layer: must be an integer in \[1, 3\]/);
  });
});
