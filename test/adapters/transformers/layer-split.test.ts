import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoModelForImageTextToText, AutoProcessor, DynamicCache, Tensor, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.js';
import { withTokenPruning } from '../../../src/adapters/transformers/index.js';
import { tappedDecoder } from '../../onnx/decoder-runner.js';
import { select } from '../../../src/select.js';
import { loadFixture, makeTestImage, prepareInputs, type LoadedFixture } from '../../fixtures/helpers.js';

env.allowRemoteModels = false;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TESTBED = join(ROOT, 'models/testbed');
const TESTBED_DECODER = join(TESTBED, 'onnx/decoder_model_merged.onnx');
const TOLERANCE = 1e-4;

function lastRow(logits: Tensor): Float32Array {
  const [, length, vocab] = logits.dims as [number, number, number];
  return (logits.data as Float32Array).slice((length - 1) * vocab, length * vocab);
}
function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
function cacheOf(outputs: Record<string, any>): DynamicCache {
  const entries: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(outputs)) if (name.startsWith('present.')) entries[name.replace('present.', 'past_key_values.')] = value;
  return new DynamicCache(entries);
}

/**
 * Prefill + `steps` greedy decoding steps driven by hand through `forward` (the calls generate() makes), on
 * the pruned wrapper and on the unwrapped model; returns the worst last-row logits difference per step.
 */
async function stepwise(model: any, pruned: any, inputs: Record<string, any>, steps: number): Promise<number[]> {
  const prunedInputs: Record<string, any> = { ...inputs };
  const plainInputs: Record<string, any> = { ...inputs };
  let a = await model.forward(plainInputs);
  let b = await pruned.forward(prunedInputs);
  const diffs = [maxAbsDiff(lastRow(a.logits), lastRow(b.logits))];
  let total = inputs.input_ids.dims[1];
  for (let step = 0; step < steps; step++) {
    const next = argmax(lastRow(a.logits));
    total += 1;
    for (const [target, out] of [[plainInputs, a], [prunedInputs, b]] as const) {
      target.input_ids = new Tensor('int64', BigInt64Array.from([BigInt(next)]), [1, 1]);
      target.attention_mask = new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
      target.past_key_values = cacheOf(out);
      target.pixel_values = null;
    }
    a = await model.forward(plainInputs);
    b = await pruned.forward(prunedInputs);
    diffs.push(maxAbsDiff(lastRow(a.logits), lastRow(b.logits)));
  }
  return diffs;
}

describe('withTokenPruning(…, { layer }) on the testbed model', () => {
  let model: any;
  let processor: any;
  let inputs: Record<string, any>;
  beforeAll(async () => {
    model = await AutoModelForImageTextToText.from_pretrained(TESTBED, { dtype: 'fp32', device: 'cpu' });
    processor = await AutoProcessor.from_pretrained(TESTBED);
    inputs = await processor(await makeTestImage(192, 192, 1), '<image>is there a red circle?');
  });

  it('with every token kept, prefill and every decoding step give the unsplit model’s logits (1e-4)', async () => {
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 576, layer: 2, decoder: TESTBED_DECODER });
    const diffs = await stepwise(model, pruned, inputs, 4);
    for (const d of diffs) expect(d).toBeLessThan(TOLERANCE);
    expect(pruned.lastPruning).toMatchObject({ layer: 2, importance: 'attention', before: 576, after: 576 });
  });

  it('prunes at layer 2 with the attention at layer 1: the whole decoder’s own layer-1 softmax row and kept set', async () => {
    const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 64, layer: 2, decoder: TESTBED_DECODER });
    const ids = await pruned.generate({ ...inputs, max_new_tokens: 4, do_sample: false });
    const report = pruned.lastPruning!;
    const length = inputs.input_ids.dims[1];
    expect(report).toMatchObject({ layer: 2, importance: 'attention', before: 576, after: 64, sequence: { before: length, after: length - 512 } });

    // Reference: the unsplit decoder with layer 1's Softmax and second residual add exposed as outputs
    // (the tensors the hand-exported split returned), run on the same merged embeddings.
    const reference = await tappedDecoder(TESTBED_DECODER, inputs as Parameters<typeof tappedDecoder>[1], model);
    const importance = report.images[0]!.importance;
    const positions = report.images[0]!.tokenPositions;
    let worst = 0;
    for (let i = 0; i < 576; i++) worst = Math.max(worst, Math.abs(importance[i]! - reference.attention[positions[i]!]!));
    expect(worst).toBeLessThan(1e-5);
    const features = new Float32Array(576 * 128);
    positions.forEach((p: number, t: number) => features.set(reference.hidden.subarray(p * 128, (p + 1) * 128), t * 128));
    const referenceImportance = Float32Array.from(positions as Int32Array, (p) => reference.attention[p]!);
    const keep = select({ features, dims: [576, 128], importance: referenceImportance, grid: { rows: 24, cols: 24 }, budget: 64 }, { method: 'd2pruner' }).keep;
    expect(Array.from(report.keep)).toEqual(Array.from(keep));
    const generated = Array.from((ids as Tensor).data as BigInt64Array).slice(length).map(Number);
    expect(generated.length).toBeGreaterThan(0);
  });

  it('reuses layers < K for the same prompt and image across methods, with the same result as a fresh run', async () => {
    const decoder = TESTBED_DECODER;
    const first = withTokenPruning(model, { method: 'fastv', budget: 32, layer: 2, decoder });
    const second = withTokenPruning(model, { method: 'd2pruner', budget: 64, layer: 2, decoder });
    // A pixel buffer no earlier test used, so that the first run computes layers < K and the second reuses them.
    const own = { ...inputs, pixel_values: new Tensor('float32', Float32Array.from(inputs.pixel_values.data), inputs.pixel_values.dims) };
    await first.generate({ ...own, max_new_tokens: 1, do_sample: false });
    const reused = await second.generate({ ...own, max_new_tokens: 4, do_sample: false });
    const reusedKeep = Array.from(second.lastPruning!.keep);
    expect(first.lastPruning!.timings).toMatchObject({ reused: false });
    expect(first.lastPruning!.timings.scoringDecoderMs).toBeGreaterThan(0); // layers 0–1 on the whole prompt
    expect(second.lastPruning!.timings).toMatchObject({ reused: true, textEmbedMs: 0, visionMs: 0, scoringDecoderMs: 0 });
    expect(second.lastPruning!.timings.decoderMs).toBeGreaterThan(0);
    // Fresh pixel values (another buffer): nothing to reuse.
    const fresh = { ...inputs, pixel_values: new Tensor('float32', Float32Array.from(inputs.pixel_values.data), inputs.pixel_values.dims) };
    const again = await second.generate({ ...fresh, max_new_tokens: 4, do_sample: false });
    expect(reusedKeep).toEqual(Array.from(second.lastPruning!.keep));
    expect(second.lastPruning!.timings.reused).toBe(false);
    expect(Array.from((reused as Tensor).data as BigInt64Array)).toEqual(Array.from((again as Tensor).data as BigInt64Array));
    // Another prompt with the same image is not mistaken for the first.
    const other = await processor(await makeTestImage(192, 192, 1), '<image>how many squares?');
    await second.generate({ ...other, pixel_values: inputs.pixel_values, max_new_tokens: 1, do_sample: false });
    expect(second.lastPruning!.sequence.before).toBe(other.input_ids.dims[1]);
  });

  it('rejects bad layer options, naming the field and value', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ layer: -1 }, 'layer'],
      [{ layer: 1.5 }, 'layer'],
      [{ layer: '2' }, 'layer'],
      [{ layer: 2, importance: 'promptRelevance' }, 'importance'],
      [{ layer: 2, positions: 'compact' }, 'positions'],
      [{ layer: 2, decoder: 42 }, 'decoder'],
    ];
    for (const [options, field] of bad) {
      let error: unknown;
      try {
        withTokenPruning(model, { method: 'fastv', budget: 8, ...options } as never);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    }
  });

  it('says which layers exist when the layer is past the last one', async () => {
    const pruned = withTokenPruning(model, { method: 'fastv', budget: 8, layer: 4, decoder: TESTBED_DECODER });
    await expect(pruned.forward({ ...inputs })).rejects.toThrow(/layer: must be an integer in \[1, 3\]/);
  });
});

describe('withTokenPruning(…, { layer: 1 }) on the fixture families', () => {
  for (const family of ['llava', 'qwen2_vl', 'idefics3'] as const) {
    it(`${family}: generate() with every token kept yields the unsplit model’s scores at every step (1e-4)`, async () => {
      const fixture: LoadedFixture = await loadFixture(family);
      const inputs = await prepareInputs(fixture, await makeTestImage(48, 32, 2), 'Describe the image.');
      const capture = () => {
        const rows: Float32Array[] = [];
        const processor = (_ids: unknown, logits: Tensor) => {
          rows.push(Float32Array.from(logits.data as Float32Array));
          return logits;
        };
        return { rows, processor };
      };
      const plain = capture();
      const split = capture();
      const pruned = withTokenPruning(fixture.model, { method: 'divprune', budget: 0.999, layer: 1, decoder: join(fixture.dir, 'onnx/decoder_model_merged.onnx') });
      const a = await fixture.model.generate({ ...inputs, max_new_tokens: 4, do_sample: false, logits_processor: [plain.processor] });
      const b = await pruned.generate({ ...inputs, max_new_tokens: 4, do_sample: false, logits_processor: [split.processor] });
      expect(Array.from(b.data)).toEqual(Array.from(a.data));
      const report = pruned.lastPruning!;
      expect(report.layer).toBe(1);
      expect(report.after).toBe(report.before);
      expect(split.rows.length).toBe(plain.rows.length);
      split.rows.forEach((row, i) => expect(maxAbsDiff(row, plain.rows[i]!)).toBeLessThan(TOLERANCE));
    });
  }
});
