import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { splitDecoderGraph, type DecoderSplit } from '../../src/onnx/split-decoder-graph.js';
import * as families from '../fixtures/families.js';
import { fixturePlan, type FixtureFamily } from '../fixtures/families.js';
import { ensureFixtureModel } from '../fixtures/models.js';
import { GraphBuilder } from '../fixtures/onnx/graph.js';
import {
  decoderShape,
  embeddings,
  emptyPast,
  maxAbsDiff,
  nextPast,
  ones,
  optimizeWithOrt,
  ort,
  positionIds,
  runWith,
  type DecoderShape,
} from './decoder-runner.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TESTBED = join(ROOT, 'models/testbed/onnx');
const TOLERANCE = 1e-4;
const scratch = mkdtempSync(join(tmpdir(), 'd2p-split-'));
const written: string[] = [];
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  for (const path of written) rmSync(path, { force: true });
});

interface Sessions {
  full: ort.InferenceSession;
  prefix: ort.InferenceSession;
  suffix: ort.InferenceSession;
  shape: DecoderShape;
  split: DecoderSplit;
}

async function open(file: string, layer: number): Promise<Sessions> {
  const split = splitDecoderGraph(readFileSync(file), { layer });
  // onnxruntime-node resolves external data next to the model file (and refuses paths leaving its folder),
  // so parts that reference an .onnx_data file are written beside the original.
  const load = (bytes: Uint8Array, part: string) => {
    if (split.externalData.length === 0) return ort.InferenceSession.create(bytes);
    const path = join(dirname(file), `split-test-${process.pid}-${layer}.${part}.onnx`);
    writeFileSync(path, bytes);
    written.push(path);
    return ort.InferenceSession.create(path);
  };
  const [full, prefix, suffix] = await Promise.all([ort.InferenceSession.create(file), load(split.prefix, 'prefix'), load(split.suffix, 'suffix')]);
  return { full, prefix, suffix, shape: decoderShape(full), split };
}

/**
 * Prefill `length` tokens then `steps` one-token decoding steps through the whole decoder and through
 * prefix + suffix (each part with its own cache); returns the largest logits and present differences.
 */
async function compareWithWhole(s: Sessions, length: number, steps: number): Promise<{ logits: number; present: number; attention: Float32Array[] }> {
  const { shape, split } = s;
  const all = Array.from({ length: split.layers }, (_, i) => i);
  let fullPast = emptyPast(shape, all);
  let prefixPast = emptyPast(shape, all.slice(0, split.layer));
  let suffixPast = emptyPast(shape, all.slice(split.layer));
  let worstLogits = 0;
  let worstPresent = 0;
  const attention: Float32Array[] = [];
  let total = 0;
  for (let step = 0; step <= steps; step++) {
    const n = step === 0 ? length : 1;
    const positions = Array.from({ length: n }, (_, i) => total + i);
    total += n;
    const common = { attention_mask: ones(total), position_ids: positionIds(positions, shape.positionRank) };
    const embeds = embeddings(n, shape.hidden, step + 1, shape.embedsType);
    const whole = await runWith(s.full, { inputs_embeds: embeds, ...common, ...fullPast });
    const before = await runWith(s.prefix, { inputs_embeds: embeds, ...common, ...prefixPast });
    const after = await runWith(s.suffix, { hidden_states: before.hidden_states as ort.Tensor, ...common, ...suffixPast });
    worstLogits = Math.max(worstLogits, maxAbsDiff(whole.logits!, after.logits!));
    for (const [name, value] of Object.entries({ ...before, ...after })) {
      if (name.startsWith('present.')) worstPresent = Math.max(worstPresent, maxAbsDiff(whole[name]!, value));
    }
    attention.push(before.attention!.data as Float32Array);
    fullPast = nextPast(whole);
    prefixPast = nextPast(before);
    suffixPast = nextPast(after);
  }
  return { logits: worstLogits, present: worstPresent, attention };
}

function expectProbabilityRows(rows: Float32Array[], firstLength: number): void {
  rows.forEach((row, step) => {
    expect(row.length).toBe(firstLength + step);
    expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
}

describe('splitDecoderGraph on the testbed decoder (torch export)', () => {
  it('cuts at layer 1’s second residual add and taps layer 1’s softmax for K = 2', async () => {
    const split = splitDecoderGraph(readFileSync(join(TESTBED, 'decoder_model_merged.onnx')), { layer: 2 });
    expect(split.layers).toBe(4);
    expect(split.cut).toBe('/layers.1/Add_4_output_0');
    expect(split.softmax).toBe('/layers.1/Softmax_output_0');
    expect(split.prefixInputs).toEqual(['inputs_embeds', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(split.prefixOutputs).toEqual(['hidden_states', 'attention', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    expect(split.suffixInputs).toEqual(['hidden_states', 'attention_mask', 'position_ids', 'past_key_values.2.key', 'past_key_values.2.value', 'past_key_values.3.key', 'past_key_values.3.value']);
    expect(split.suffixOutputs).toEqual(['logits', 'present.2.key', 'present.2.value', 'present.3.key', 'present.3.value']);
    expect(split.externalData).toEqual([]);
  });

  it('prefix + suffix reproduce the whole decoder’s logits and caches, prefill and decoding', async () => {
    const s = await open(join(TESTBED, 'decoder_model_merged.onnx'), 2);
    const result = await compareWithWhole(s, 40, 3);
    expect(result.logits).toBeLessThan(TOLERANCE);
    expect(result.present).toBeLessThan(TOLERANCE);
    expectProbabilityRows(result.attention, 40);
  });

  it('gives the whole decoder’s own layer-1 softmax row and residual stream entering layer 2 (1e-5)', async () => {
    const s = await open(join(TESTBED, 'decoder_model_merged.onnx'), 2);
    // Reference: the unsplit decoder with those two tensors added as graph outputs (what the hand-exported
    // decoder_prefix.onnx returned; the automatic split matched it exactly on 120 held-out cases before it was removed).
    const proto = fromBinary(ModelProtoSchema, readFileSync(join(TESTBED, 'decoder_model_merged.onnx')));
    for (const name of ['/layers.1/Softmax_output_0', '/layers.1/Add_4_output_0']) proto.graph!.output.push(create(ValueInfoProtoSchema, { name }));
    const tapped = await ort.InferenceSession.create(toBinary(ModelProtoSchema, proto));
    const length = 600;
    const common = {
      inputs_embeds: embeddings(length, s.shape.hidden, 3),
      attention_mask: ones(length),
      position_ids: positionIds(Array.from({ length }, (_, i) => i), 2),
    };
    const auto = await runWith(s.prefix, { ...common, ...emptyPast(s.shape, [0, 1]) });
    const whole = await runWith(tapped, { ...common, ...emptyPast(s.shape, [0, 1, 2, 3]) });
    const softmax = whole['/layers.1/Softmax_output_0']!;
    const [, heads, queries, keys] = softmax.dims as [number, number, number, number];
    const row = new Float32Array(keys);
    for (let h = 0; h < heads; h++) for (let k = 0; k < keys; k++) row[k]! += (softmax.data as Float32Array)[(h * queries + queries - 1) * keys + k]! / heads;
    expect(auto.attention!.dims).toEqual([1, length]);
    expect(maxAbsDiff(auto.attention!.data as Float32Array, row)).toBeLessThan(1e-5);
    expect(maxAbsDiff(auto.hidden_states!.data as Float32Array, whole['/layers.1/Add_4_output_0']!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('splits at every layer 1 … 3 with the same logits', async () => {
    for (const layer of [1, 3]) {
      const result = await compareWithWhole(await open(join(TESTBED, 'decoder_model_merged.onnx'), layer), 12, 1);
      expect(result.logits, `layer ${layer}`).toBeLessThan(TOLERANCE);
    }
  });

  it('splits the onnxruntime-optimized (fused, level "all") testbed decoder', async () => {
    const optimized = await optimizeWithOrt(join(TESTBED, 'decoder_model_merged.onnx'), join(scratch, 'testbed-optimized.onnx'));
    const ops = fromBinary(ModelProtoSchema, readFileSync(optimized)).graph!.node.map((n) => `${n.domain}:${n.opType}`);
    expect(ops).toContain('com.microsoft:FusedMatMul');
    expect(ops).toContain(':SimplifiedLayerNormalization');
    const s = await open(optimized, 2);
    const result = await compareWithWhole(s, 30, 2);
    expect(result.logits).toBeLessThan(TOLERANCE);
    // Same importance as the unfused graph.
    const plain = await compareWithWhole(await open(join(TESTBED, 'decoder_model_merged.onnx'), 2), 30, 0);
    expect(maxAbsDiff(result.attention[0]!, plain.attention[0]!)).toBeLessThan(1e-5);
  });
});

/** Every fixture folder: the families and, where the generator has them, the Hub-interface mirrors (float16 KV cache, external data). */
const FIXTURES: readonly string[] = [
  ...families.FIXTURE_FAMILIES,
  ...(((families as Record<string, unknown>).HUB_FIXTURES as readonly string[] | undefined) ?? []),
];

describe('splitDecoderGraph on the fixture families', () => {
  for (const family of FIXTURES) {
    it(`${family}: prefix + suffix at layer 1 equal the whole decoder (prefill + 2 steps)`, async () => {
      const suffix = fixturePlan(family as FixtureFamily).suffix?.decoder_model_merged ?? '';
      const file = join(ensureFixtureModel(family as FixtureFamily), `onnx/decoder_model_merged${suffix}.onnx`);
      const s = await open(file, 1);
      expect(s.split.layers).toBe(2);
      expect(s.split.suffixInputs[0]).toBe('hidden_states');
      expect(s.split.prefixInputs).not.toContain('num_logits_to_keep');
      expect(s.split.suffixInputs.includes('num_logits_to_keep')).toBe(s.full.inputNames.includes('num_logits_to_keep'));
      // smolvlm's weights live in decoder_model_merged.onnx_data: both parts reference it, nothing is copied.
      const external = fixturePlan(family as FixtureFamily).external.includes('decoder_model_merged');
      expect(s.split.externalData).toEqual(external ? [`decoder_model_merged${suffix}.onnx_data`] : []);
      const result = await compareWithWhole(s, 20, 2);
      expect(result.logits).toBeLessThan(TOLERANCE);
      expect(result.present).toBeLessThan(TOLERANCE);
      expectProbabilityRows(result.attention, 20);
    });
  }

  it('qwen2_vl: M-RoPE position triples reach the suffix (different axes change the logits the same way)', async () => {
    const file = join(ensureFixtureModel('qwen2_vl'), 'onnx/decoder_model_merged.onnx');
    const s = await open(file, 1);
    const length = 9;
    const data = new BigInt64Array(3 * length);
    for (let i = 0; i < length; i++) {
      data[i] = BigInt(i);
      data[length + i] = BigInt(Math.floor(i / 3));
      data[2 * length + i] = BigInt(i % 3);
    }
    const common = { attention_mask: ones(length), position_ids: new ort.Tensor('int64', data, [3, 1, length]) };
    const embeds = embeddings(length, s.shape.hidden, 5);
    const whole = await runWith(s.full, { inputs_embeds: embeds, ...common, ...emptyPast(s.shape, [0, 1]) });
    const before = await runWith(s.prefix, { inputs_embeds: embeds, ...common, ...emptyPast(s.shape, [0]) });
    const after = await runWith(s.suffix, { hidden_states: before.hidden_states as ort.Tensor, ...common, ...emptyPast(s.shape, [1]) });
    expect(maxAbsDiff(whole.logits!.data as Float32Array, after.logits!.data as Float32Array)).toBeLessThan(TOLERANCE);
  });

  it('splits the onnxruntime-optimized (level "all") llava fixture decoder', async () => {
    const file = join(ensureFixtureModel('llava'), 'onnx/decoder_model_merged.onnx');
    const optimized = await optimizeWithOrt(file, join(scratch, 'llava-optimized.onnx'));
    const ops = fromBinary(ModelProtoSchema, readFileSync(optimized)).graph!.node.map((n) => `${n.domain}:${n.opType}`);
    expect(ops.some((op) => op.startsWith('com.microsoft:'))).toBe(true);
    const result = await compareWithWhole(await open(optimized, 1), 16, 2);
    expect(result.logits).toBeLessThan(TOLERANCE);
  });
});

describe('splitDecoderGraph: what it refuses', () => {
  const testbed = () => readFileSync(join(TESTBED, 'decoder_model_merged.onnx'));

  it('rejects a layer outside [1, layers − 1], naming the field and value', () => {
    for (const layer of [0, 4, 1.5, -1, Number.NaN]) {
      let error: unknown;
      try {
        splitDecoderGraph(testbed(), { layer });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('layer');
      expect((error as ValidationError).message).toContain('[1, 3]');
      expect((error as ValidationError).message).toContain('layer: 0');
    }
  });

  it('rejects bytes that are not an ONNX decoder', () => {
    expect(() => splitDecoderGraph(new Uint8Array([1, 2, 3, 255]), { layer: 1 })).toThrow(ValidationError);
    expect(() => splitDecoderGraph('model.onnx' as unknown as Uint8Array, { layer: 1 })).toThrow(/decoder: must be the bytes/);
  });

  /** Two "layers" whose caches are computed from inputs_embeds directly: no residual stream to cut. */
  function noResidual(): Uint8Array {
    const g = new GraphBuilder({ seed: 1 });
    const e = g.input('inputs_embeds', 'float', ['batch_size', 'sequence_length', 4]);
    g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
    for (let i = 0; i < 2; i++) {
      for (const kind of ['key', 'value']) {
        const past = g.input(`past_key_values.${i}.${kind}`, 'float', ['batch_size', 1, 'past_sequence_length', 4]);
        const k = g.unsqueeze(g.matmul(e, g.weight(`w${i}${kind}`, [4, 4], 1)), [1]);
        g.output(g.op('Concat', [past, k], { axis: 2 }), `present.${i}.${kind}`, 'float', ['batch_size', 1, 'total_sequence_length', 4]);
      }
    }
    g.output(g.matmul(e, g.weight('head', [4, 8], 1)), 'logits', 'float', ['batch_size', 'sequence_length', 8]);
    return g.toBytes('no_residual');
  }

  it('says what it did not find when no tensor separates layer K from the layers before', () => {
    expect(() => splitDecoderGraph(noResidual(), { layer: 1 })).toThrow(/residual stream entering layer 1.*use layer: 0/);
  });

  it('names the fused attention operator it cannot read probabilities from', () => {
    const model = fromBinary(ModelProtoSchema, readFileSync(join(ensureFixtureModel('llava'), 'onnx/decoder_model_merged.onnx')));
    const softmax = model.graph!.node.filter((n) => n.opType === 'Softmax');
    expect(softmax).toHaveLength(2);
    // Stand-in for onnxruntime's fused op: same data flow, the probabilities no longer a tensor of the graph.
    softmax[0]!.opType = 'MultiHeadAttention';
    softmax[0]!.domain = 'com.microsoft';
    expect(() => splitDecoderGraph(toBinary(ModelProtoSchema, model), { layer: 1 })).toThrow(/fused operator.*use layer: 0.*com\.microsoft:MultiHeadAttention/);
  });

  it('keeps external-data references, optionally relocated', () => {
    const model = fromBinary(ModelProtoSchema, testbed());
    const weight = model.graph!.initializer.find((t) => t.name === 'decoder.norm.weight') ?? model.graph!.initializer.find((t) => t.rawData.length > 64)!;
    weight.rawData = new Uint8Array(0);
    weight.dataLocation = 1;
    weight.externalData = [
      { $typeName: 'onnx.StringStringEntryProto', key: 'location', value: 'decoder_model_merged.onnx_data' },
      { $typeName: 'onnx.StringStringEntryProto', key: 'offset', value: '0' },
      { $typeName: 'onnx.StringStringEntryProto', key: 'length', value: String(weight.dims.reduce((a, b) => a * Number(b), 4)) },
    ];
    const bytes = toBinary(ModelProtoSchema, model);
    const plain = splitDecoderGraph(bytes, { layer: 2 });
    const moved = splitDecoderGraph(bytes, { layer: 2, externalDataLocation: (l) => `../model/onnx/${l}` });
    expect(plain.externalData).toEqual(['decoder_model_merged.onnx_data']);
    expect(moved.externalData).toEqual(['../model/onnx/decoder_model_merged.onnx_data']);
    const part = fromBinary(ModelProtoSchema, [plain.prefix, plain.suffix].find((b) => fromBinary(ModelProtoSchema, b).graph!.initializer.some((t) => t.name === weight.name))!);
    const kept = part.graph!.initializer.find((t) => t.name === weight.name)!;
    expect(kept.dataLocation).toBe(1);
    expect(kept.rawData.length).toBe(0);
    expect(kept.externalData.map((e) => [e.key, e.value])).toEqual(weight.externalData.map((e) => [e.key, e.value]));
  });
});
