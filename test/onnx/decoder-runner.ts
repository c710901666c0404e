/**
 * Runs a decoder ModelProto (whole or split) on onnxruntime-node with explicit feeds, for comparing the
 * split's numbers with the unsplit model's.
 */
import * as ort from 'onnxruntime-node';

export type Feeds = Record<string, ort.Tensor>;

/** Shape facts read from a decoder session's input metadata. */
export interface DecoderShape {
  hidden: number;
  kvHeads: number;
  headDim: number;
  /** Rank of position_ids: 2 ([B, S]) or 3 (M-RoPE [3, B, S]). */
  positionRank: number;
  /** Element type of inputs_embeds and of the KV cache ('float32' or 'float16'). */
  embedsType: 'float32' | 'float16';
  cacheType: 'float32' | 'float16';
  inputNames: readonly string[];
}

export function decoderShape(session: ort.InferenceSession): DecoderShape {
  const meta = session.inputMetadata as unknown as { name: string; isTensor: boolean; type: string; shape: (number | string)[] }[];
  const byName = (name: string) => meta.find((m) => m.name === name)!;
  const past = meta.find((m) => m.name.startsWith('past_key_values.'))!;
  return {
    hidden: Number(byName('inputs_embeds').shape[2]),
    kvHeads: Number(past.shape[1]),
    headDim: Number(past.shape[3]),
    positionRank: byName('position_ids').shape.length,
    embedsType: byName('inputs_embeds').type === 'float16' ? 'float16' : 'float32',
    cacheType: past.type === 'float16' ? 'float16' : 'float32',
    inputNames: session.inputNames,
  };
}

/** float32 → IEEE half bits (round to nearest even; no subnormal care needed for these test values). */
export function toHalf(values: Float32Array): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(values, (v) => {
    f[0] = v;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return sign;
    if (exp >= 31) return sign | 0x7c00;
    const mant = (x >>> 13) & 0x3ff;
    const rest = x & 0x1fff;
    let half = sign | (exp << 10) | mant;
    if (rest > 0x1000 || (rest === 0x1000 && (mant & 1))) half += 1;
    return half;
  });
}

/** IEEE half bits → float32. */
export function fromHalf(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, (h) => {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) return sign * mant * 2 ** -24;
    if (exp === 31) return mant ? Number.NaN : sign * Infinity;
    return sign * (1 + mant / 1024) * 2 ** (exp - 15);
  });
}

/** A tensor's values as float32 (float16 decoded). */
export function floats(t: ort.Tensor | ort.OnnxValue): Float32Array {
  const tensor = t as ort.Tensor;
  return tensor.type === 'float16' ? fromHalf(tensor.data as Uint16Array) : (tensor.data as Float32Array);
}

/** Deterministic pseudo-embeddings [1, length, hidden], in `type`. */
export function embeddings(length: number, hidden: number, seed = 1, type: 'float32' | 'float16' = 'float32'): ort.Tensor {
  const values = Float32Array.from({ length: length * hidden }, (_, i) => Math.sin((i + 1) * 0.37 * seed) * 0.8);
  return type === 'float16' ? new ort.Tensor('float16', toHalf(values), [1, length, hidden]) : new ort.Tensor('float32', values, [1, length, hidden]);
}

/** position_ids for positions `values` ([1, n], or [3, 1, n] copied on every M-RoPE axis). */
export function positionIds(values: number[], rank: number): ort.Tensor {
  const row = BigInt64Array.from(values, (v) => BigInt(v));
  if (rank === 3) {
    const data = new BigInt64Array(3 * values.length);
    for (let a = 0; a < 3; a++) data.set(row, a * values.length);
    return new ort.Tensor('int64', data, [3, 1, values.length]);
  }
  return new ort.Tensor('int64', row, [1, values.length]);
}

export function ones(length: number): ort.Tensor {
  return new ort.Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]);
}

export function emptyPast(shape: DecoderShape, layers: Iterable<number>): Feeds {
  const feeds: Feeds = {};
  for (const i of layers) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${i}.${kind}`] =
        shape.cacheType === 'float16'
          ? new ort.Tensor('float16', new Uint16Array(0), [1, shape.kvHeads, 0, shape.headDim])
          : new ort.Tensor('float32', new Float32Array(0), [1, shape.kvHeads, 0, shape.headDim]);
    }
  }
  return feeds;
}

/** present.* outputs renamed past_key_values.*. */
export function nextPast(outputs: ort.InferenceSession.OnnxValueMapType): Feeds {
  const feeds: Feeds = {};
  for (const [name, value] of Object.entries(outputs)) {
    if (name.startsWith('present.')) feeds[name.replace('present.', 'past_key_values.')] = value as ort.Tensor;
  }
  return feeds;
}

/** Runs `session` with the feeds it declares (num_logits_to_keep = 0, i.e. every position, when it has one). */
export async function runWith(session: ort.InferenceSession, feeds: Feeds): Promise<ort.InferenceSession.OnnxValueMapType> {
  const picked: Feeds = {};
  for (const name of session.inputNames) {
    if (name === 'num_logits_to_keep' && !feeds[name]) picked[name] = new ort.Tensor('int64', BigInt64Array.from([0n]), []);
    else if (feeds[name]) picked[name] = feeds[name]!;
    else throw new Error(`no feed for ${name}`);
  }
  return session.run(picked);
}

export function maxAbsDiff(a: ArrayLike<number> | ort.OnnxValue, b: ArrayLike<number> | ort.OnnxValue): number {
  if (a instanceof ort.Tensor) a = floats(a);
  if (b instanceof ort.Tensor) b = floats(b);
  return maxDiff(a as ArrayLike<number>, b as ArrayLike<number>);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Writes the ORT-optimized ('all') version of a model file to `out` and returns `out`. */
export async function optimizeWithOrt(model: string, out: string): Promise<string> {
  await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', optimizedModelFilePath: out, logSeverityLevel: 3 });
  return out;
}

export { ort };

/**
 * The whole (unsplit) torch-exported testbed decoder with layer 1's attention probabilities
 * (`/layers.1/Softmax_output_0`) and the residual stream entering layer 2 (`/layers.1/Add_4_output_0`)
 * added as graph outputs, run on a prompt's merged embeddings (transformers.js `encode_image` and
 * `encode_text`, image rows placed at the image tokens). Returns the last prompt token's head-averaged
 * attention row [length] and the hidden states [length × hidden]: the reference for the split's prefix.
 */
export async function tappedDecoder(
  file: string,
  inputs: { input_ids: { data: BigInt64Array; dims: number[] }; pixel_values: unknown },
  model: any, // eslint-disable-line @typescript-eslint/no-explicit-any
): Promise<{ attention: Float32Array; hidden: Float32Array }> {
  const { fromBinary, toBinary, create } = await import('@bufbuild/protobuf');
  const { ModelProtoSchema, ValueInfoProtoSchema } = await import('onnx-buf');
  const { readFileSync } = await import('node:fs');
  const proto = fromBinary(ModelProtoSchema, readFileSync(file));
  const taps = { attention: '/layers.1/Softmax_output_0', hidden: '/layers.1/Add_4_output_0' };
  for (const name of Object.values(taps)) proto.graph!.output.push(create(ValueInfoProtoSchema, { name }));
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, proto));
  const length = inputs.input_ids.dims[1]!;
  const image = await model.encode_image({ pixel_values: inputs.pixel_values });
  const text = await model.encode_text({ input_ids: inputs.input_ids });
  const width = text.dims[2] as number;
  const embeds = Float32Array.from(text.data as Float32Array);
  const imageToken = BigInt(model.config.image_token_index);
  let row = 0;
  for (let i = 0; i < length; i++) {
    if (inputs.input_ids.data[i] === imageToken) embeds.set((image.data as Float32Array).subarray(row * width, ++row * width), i * width);
  }
  const shape = decoderShape(session);
  const out = await runWith(session, {
    inputs_embeds: new ort.Tensor('float32', embeds, [1, length, width]),
    attention_mask: ones(length),
    position_ids: positionIds(Array.from({ length }, (_, i) => i), 2),
    ...emptyPast(shape, Array.from({ length: shape.inputNames.filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length }, (_, i) => i)),
  });
  const probabilities = out[taps.attention]!;
  const [, heads, queries, keys] = probabilities.dims as [number, number, number, number];
  const data = probabilities.data as Float32Array;
  const attention = new Float32Array(keys);
  for (let h = 0; h < heads; h++) {
    for (let k = 0; k < keys; k++) attention[k]! += data[(h * queries + queries - 1) * keys + k]! / heads;
  }
  return { attention, hidden: out[taps.hidden]!.data as Float32Array };
}
