/**
 * Splits a transformers.js `decoder_model_merged.onnx` at decoder layer K into a prefix (layers < K) and a
 * suffix (layers ≥ K), so the visual tokens can be pruned between them with the paper's importance (the last
 * prompt token's head-averaged attention at layer K−1).
 *
 * Pure: ModelProto bytes in, two ModelProto bytes out; no file system, so it runs in the browser too.
 *
 * How the cut is found (from the data flow, never from node names):
 * - layer i is what feeds the graph outputs `present.i.key` / `present.i.value`;
 * - the cut is the last tensor that every data path from `inputs_embeds` to `logits` and `present.j.*`
 *   (j ≥ K) passes through — the residual stream entering layer K. Paths through `Shape`/`Size` are metadata
 *   and set aside; the cut must depend on layer K−1 and must not feed `present.i.*` for i < K;
 * - layer K−1's attention probabilities are the one `Softmax` downstream of `present.(K−1).key` and upstream
 *   of the cut.
 *
 * Shared subgraphs (causal mask, rotary tables, lengths read from `inputs_embeds` or a past key's shape) are
 * copied into the suffix and recomputed there from its own inputs: metadata reads of `inputs_embeds` read the
 * suffix's `hidden_states` instead (same batch and sequence length), metadata reads of
 * `past_key_values.i.*` (i < K) read `past_key_values.K.*` (the suffix's own past length).
 *
 * External data: initializers stored outside the protobuf (`*.onnx_data`) keep their `external_data`
 * entries, so the split files reference the original data file instead of copying weights. Their `location`
 * is relative to the model file; when the split files are written elsewhere, pass `externalDataLocation`
 * to rewrite it (e.g. to a relative path back to the original folder).
 */
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TensorShapeProto_Dimension,
  type ValueInfoProto,
} from 'onnx-buf';
import { ValidationError } from '../core/errors.js';
import { GraphIndex, elemTypeOf } from './dataflow.js';

/** Names of the tensors the split adds between prefix and suffix. */
export const SPLIT_TENSORS = Object.freeze({
  /** Prefix output and suffix input: the residual stream entering layer K, [batch, sequence, hidden]. */
  hidden: 'hidden_states',
  /** Prefix output: the last query token's attention at layer K−1, averaged over heads, [batch, total], float32. */
  attention: 'attention',
});

/** Options of {@link splitDecoderGraph}. */
export interface SplitDecoderOptions {
  /** Decoder layer K the suffix starts at: an integer in [1, layers − 1]. */
  layer: number;
  /**
   * Rewrites the `location` of every external-data initializer (default: kept as is, i.e. the split files
   * must sit next to the original data file).
   */
  externalDataLocation?: (location: string) => string;
}

/** Result of {@link splitDecoderGraph}. */
export interface DecoderSplit {
  /** Layer K. */
  layer: number;
  /** Number of decoder layers (the `present.i.*` pairs). */
  layers: number;
  /** Serialized prefix ModelProto: layers < K. */
  prefix: Uint8Array;
  /** Serialized suffix ModelProto: layers ≥ K. */
  suffix: Uint8Array;
  /** Graph inputs and outputs of the two parts, in order. */
  prefixInputs: string[];
  prefixOutputs: string[];
  suffixInputs: string[];
  suffixOutputs: string[];
  /** Name, in the original graph, of the residual-stream tensor the graph was cut at. */
  cut: string;
  /** Name, in the original graph, of layer K−1's attention probabilities (the Softmax output). */
  softmax: string;
  /** External data files the parts reference (locations after rewriting), sorted. */
  externalData: string[];
}

const PRESENT = /^present\.(\d+)\.(key|value)$/;
const FUSED_ATTENTION = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'SparseAttention']);
const OPEN_END = 2147483647n;

/**
 * Splits a decoder ModelProto at layer `options.layer` (see the module comment for how the cut is found).
 *
 * Prefix: inputs as the original's that layers < K read (`inputs_embeds`, `attention_mask`, `position_ids`,
 * `past_key_values.i.*` for i < K); outputs `hidden_states` (entering layer K), `attention` (layer K−1's
 * head-averaged attention row of the last query token, float32 [batch, total_sequence_length]) and
 * `present.i.*` for i < K.
 * Suffix: inputs `hidden_states`, then the original inputs layers ≥ K read (`attention_mask`,
 * `position_ids`, `past_key_values.j.*` for j ≥ K, `num_logits_to_keep`…); outputs `logits` and
 * `present.j.*` for j ≥ K.
 *
 * @param bytes the decoder's ModelProto (e.g. the contents of `decoder_model_merged.onnx`)
 * @throws ValidationError (field `layer`) when the layer is out of range, (field `decoder`) when the graph is
 *   not a transformers.js decoder or cannot be cut at that layer; the message suggests `layer: 0`.
 */
export function splitDecoderGraph(bytes: Uint8Array, options: SplitDecoderOptions): DecoderSplit {
  if (!(bytes instanceof Uint8Array)) throw new ValidationError('decoder', bytes, 'must be the bytes of an ONNX model (Uint8Array)');
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw new ValidationError('decoder', bytes, `is not an ONNX ModelProto (${(error as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || graph.node.length === 0) throw new ValidationError('decoder', bytes, 'has no graph');
  const embedsInput = graph.input.find((i) => i.name === 'inputs_embeds');
  if (!embedsInput) {
    throw new ValidationError('decoder', graph.input.map((i) => i.name).join(', '), 'has no inputs_embeds input; cannot split it — use layer: 0');
  }
  if (!graph.output.some((o) => o.name === 'logits')) {
    throw new ValidationError('decoder', graph.output.map((o) => o.name).join(', '), 'has no logits output; cannot split it — use layer: 0');
  }
  const layers = countLayers(graph);
  const layer = options?.layer;
  if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 1 || layer >= layers) {
    throw new ValidationError('layer', layer, `must be an integer in [1, ${layers - 1}] for this ${layers}-layer decoder (layer: 0 prunes at the decoder input)`);
  }
  for (const name of Object.values(SPLIT_TENSORS)) {
    if (graph.input.some((i) => i.name === name) || graph.node.some((n) => n.output.includes(name))) {
      throw new ValidationError('decoder', name, 'already names a tensor of the graph; cannot add the split outputs');
    }
  }

  const index = new GraphIndex(graph);
  const present = (i: number, kind: 'key' | 'value') => `present.${i}.${kind}`;
  const earlier = Array.from({ length: layer }, (_, i) => [present(i, 'key'), present(i, 'value')]).flat();
  const later = Array.from({ length: layers - layer }, (_, j) => [present(layer + j, 'key'), present(layer + j, 'value')]).flat();

  // The cut: the last dominator of layers ≥ K and the logits, after layer K−1 and not read by layers < K.
  const dominators = index.dominators('inputs_embeds', ['logits', ...later]);
  const afterPrevious = index.dataDescendants(computedTensor(index, present(layer - 1, 'value')));
  const readByEarlier = new Set<string>();
  for (const n of index.ancestorNodes(earlier)) for (const out of index.nodes[n]!.output) readByEarlier.add(out);
  const cut = dominators.at(-1);
  if (cut === undefined || !afterPrevious.has(cut) || readByEarlier.has(cut)) {
    throw new ValidationError(
      'decoder',
      `layer ${layer}`,
      `no tensor found that every path from inputs_embeds to layer ${layer} and the logits passes through after layer ${layer - 1} ` +
        `(the residual stream entering layer ${layer}); cannot split this graph — use layer: 0`,
    );
  }

  const softmax = findSoftmax(index, computedTensor(index, present(layer - 1, 'key')), cut, layer);
  const externalData = new Set<string>();
  const prefixGraph = buildPrefix(graph, index, { cut, softmax, earlier, embeds: embedsInput }, options, externalData, defaultOpset(model));
  const suffixGraph = buildSuffix(graph, index, { cut, layer, later, embeds: embedsInput }, options, externalData);
  const wrap = (g: GraphProto) => toBinary(ModelProtoSchema, create(ModelProtoSchema, { ...model, graph: g }));
  return {
    layer,
    layers,
    prefix: wrap(prefixGraph),
    suffix: wrap(suffixGraph),
    prefixInputs: prefixGraph.input.map((i) => i.name),
    prefixOutputs: prefixGraph.output.map((o) => o.name),
    suffixInputs: suffixGraph.input.map((i) => i.name),
    suffixOutputs: suffixGraph.output.map((o) => o.name),
    cut,
    softmax,
    externalData: [...externalData].sort(),
  };
}

function countLayers(graph: GraphProto): number {
  const kinds = new Map<number, Set<string>>();
  for (const out of graph.output) {
    const m = PRESENT.exec(out.name);
    if (!m) continue;
    const i = Number(m[1]);
    if (!kinds.has(i)) kinds.set(i, new Set());
    kinds.get(i)!.add(m[2]!);
  }
  const layers = kinds.size;
  for (let i = 0; i < layers; i++) {
    if (kinds.get(i)?.size !== 2) {
      throw new ValidationError('decoder', `present.${i}`, 'is missing (need present.i.key and present.i.value for every layer); cannot split — use layer: 0');
    }
  }
  if (layers < 2) throw new ValidationError('decoder', layers, 'layers found (present.i.* outputs); at least 2 are needed to split — use layer: 0');
  return layers;
}

/**
 * The tensor a graph output is computed as, looking through output-only Cast/Identity nodes (a float16
 * interface returns `present.i.*` as the Cast of the float32 cache the attention reads).
 */
function computedTensor(index: GraphIndex, name: string): string {
  let tensor = name;
  for (;;) {
    const p = index.producer.get(tensor);
    const node = p === undefined ? undefined : index.nodes[p]!;
    if (!node || (node.opType !== 'Cast' && node.opType !== 'Identity') || node.domain !== '') return tensor;
    tensor = node.input[0]!;
  }
}

function findSoftmax(index: GraphIndex, key: string, cut: string, layer: number): string {
  const fromKey = index.dataDescendants(key);
  const toCut = index.dataAncestors([cut]);
  const between = index.nodes.filter((n) => n.output.some((o) => fromKey.has(o) && toCut.has(o)));
  const softmaxes = between.filter((n) => n.opType === 'Softmax' && (n.domain === '' || n.domain === 'ai.onnx'));
  if (softmaxes.length === 1) return softmaxes[0]!.output[0]!;
  const fused = between.find((n) => FUSED_ATTENTION.has(n.opType)) ?? index.nodes.find((n) => n.output.includes(key) && FUSED_ATTENTION.has(n.opType));
  if (softmaxes.length === 0 && fused) {
    throw new ValidationError(
      'decoder',
      `${fused.domain || 'ai.onnx'}:${fused.opType}`,
      `computes layer ${layer - 1}'s attention as a fused operator, whose probabilities are not a tensor of the graph; ` +
        'attention importance needs an unfused export — use layer: 0',
    );
  }
  throw new ValidationError(
    'decoder',
    softmaxes.length,
    `Softmax nodes found between present.${layer - 1}.key and the cut (need exactly one: layer ${layer - 1}'s attention); ` +
      'cannot compute the attention importance — use layer: 0',
  );
}

interface Collected {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  initializers: TensorProto[];
  valueInfo: ValueInfoProto[];
}

/** Graph inputs, initializers and value infos that `nodes` read or produce. */
function collect(graph: GraphProto, nodes: NodeProto[], options: SplitDecoderOptions, externalData: Set<string>): Collected {
  const read = new Set<string>();
  const produced = new Set<string>();
  for (const n of nodes) {
    for (const i of n.input) if (i !== '') read.add(i);
    for (const o of n.output) if (o !== '') produced.add(o);
  }
  const initializers = graph.initializer.filter((t) => read.has(t.name)).map((t) => relocate(t, options, externalData));
  const initNames = new Set(initializers.map((t) => t.name));
  const inputs = graph.input.filter((i) => read.has(i.name) && !initNames.has(i.name));
  const valueInfo = graph.valueInfo.filter((v) => produced.has(v.name));
  return { nodes, inputs, initializers, valueInfo };
}

function relocate(tensor: TensorProto, options: SplitDecoderOptions, externalData: Set<string>): TensorProto {
  if (tensor.dataLocation !== TensorProto_DataLocation.EXTERNAL) return tensor;
  const entries = tensor.externalData.map((e) =>
    e.key === 'location' && options.externalDataLocation ? create(StringStringEntryProtoSchema, { key: e.key, value: options.externalDataLocation(e.value) }) : e,
  );
  const location = entries.find((e) => e.key === 'location')?.value;
  if (location !== undefined) externalData.add(location);
  return options.externalDataLocation ? create(TensorProtoSchema, { ...tensor, externalData: entries }) : tensor;
}

function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, bigint | bigint[]> = {}): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    name: `d2pruner/${outputs[0]}`,
    input: inputs,
    output: outputs,
    attribute: Object.entries(attributes).map(([name, v]) =>
      Array.isArray(v)
        ? create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: v })
        : create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: v }),
    ),
  });
}

function int64Tensor(name: string, values: bigint[], dims: bigint[]): TensorProto {
  const data = BigInt64Array.from(values);
  return create(TensorProtoSchema, { name, dims, dataType: TensorProto_DataType.INT64, rawData: new Uint8Array(data.buffer) });
}

function tensorInfo(name: string, elemType: number, dims: (TensorShapeProto_Dimension | string)[]): ValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: d } }) : d));
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType, shape: create(TensorShapeProtoSchema, { dim }) }) },
    }),
  });
}

function dimsOf(info: ValueInfoProto | undefined): TensorShapeProto_Dimension[] {
  return info?.type?.value.case === 'tensorType' ? (info.type.value.value.shape?.dim ?? []) : [];
}

/** Version of the default (ai.onnx) opset the model imports. */
function defaultOpset(model: ModelProto): bigint {
  return model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 17n;
}

function buildPrefix(
  graph: GraphProto,
  index: GraphIndex,
  parts: { cut: string; softmax: string; earlier: string[]; embeds: ValueInfoProto },
  options: SplitDecoderOptions,
  externalData: Set<string>,
  opset: bigint,
): GraphProto {
  const { cut, softmax, earlier, embeds } = parts;
  const kept = index.ancestorNodes([cut, softmax, ...earlier]).map((i) => index.nodes[i]!);
  const { nodes, inputs, initializers, valueInfo } = collect(graph, kept, options, externalData);

  // attention = mean over heads of softmax[..., -1, :], whatever the rank ([B,H,S,T] or [B,KV,G,S,T]).
  const t = (name: string) => `d2pruner/${name}`;
  initializers.push(
    int64Tensor(t('last'), [-1n], []),
    int64Tensor(t('zero_1'), [0n], [1n]),
    int64Tensor(t('one_1'), [1n], [1n]),
    int64Tensor(t('minus_one_1'), [-1n], [1n]),
    int64Tensor(t('open_end'), [OPEN_END], [1n]),
  );
  nodes.push(
    node('Gather', [softmax, t('last')], [t('last_row')], { axis: -2n }),
    node('Shape', [t('last_row')], [t('row_shape')]),
    node('Slice', [t('row_shape'), t('zero_1'), t('one_1')], [t('row_batch')]),
    node('Slice', [t('row_shape'), t('minus_one_1'), t('open_end')], [t('row_keys')]),
    node('Concat', [t('row_batch'), t('minus_one_1'), t('row_keys')], [t('heads_shape')], { axis: 0n }),
    node('Reshape', [t('last_row'), t('heads_shape')], [t('heads_rows')]),
  );
  if (opset >= 18n) {
    nodes.push(node('ReduceMean', [t('heads_rows'), t('one_1')], [t('mean_row')], { keepdims: 0n }));
  } else {
    nodes.push(node('ReduceMean', [t('heads_rows')], [t('mean_row')], { axes: [1n], keepdims: 0n }));
  }
  nodes.push(
    node('Cast', [t('mean_row')], [SPLIT_TENSORS.attention], { to: BigInt(TensorProto_DataType.FLOAT) }),
    node('Identity', [cut], [SPLIT_TENSORS.hidden]),
  );

  const embedsDims = dimsOf(embeds);
  const maskDims = dimsOf(graph.input.find((i) => i.name === 'attention_mask'));
  const hiddenInfo = hiddenStateInfo(graph, index, cut, embeds);
  const attentionInfo = tensorInfo(SPLIT_TENSORS.attention, TensorProto_DataType.FLOAT, [
    embedsDims[0] ?? 'batch_size',
    maskDims[1] ?? 'total_sequence_length',
  ]);
  const outputs = [hiddenInfo, attentionInfo, ...earlier.map((name) => graph.output.find((o) => o.name === name)!)];
  return create(GraphProtoSchema, {
    name: `${graph.name || 'decoder'}_prefix`,
    node: nodes,
    input: inputs,
    output: outputs,
    initializer: initializers,
    valueInfo,
  });
}

function buildSuffix(
  graph: GraphProto,
  index: GraphIndex,
  parts: { cut: string; layer: number; later: string[]; embeds: ValueInfoProto },
  options: SplitDecoderOptions,
  externalData: Set<string>,
): GraphProto {
  const { cut, layer, later, embeds } = parts;
  const targets = ['logits', ...later];
  const kept = index.ancestorNodes(targets, new Set([cut])).map((i) => index.nodes[i]!);
  const hiddenInfo = hiddenStateInfo(graph, index, cut, embeds);
  const hiddenType = (hiddenInfo.type!.value.value as { elemType: number }).elemType;
  // Inputs the suffix does not have, read by the shared subgraphs for their shapes only (a sequence length
  // from inputs_embeds, a past length from a past key, possibly after a Cast): each is replaced by the
  // suffix's counterpart, cast to the original dtype where it differs. Reads whose values reach the outputs
  // other than through the cut would change the result: refused.
  const stopAtCut = new Set([cut]);
  const extra: NodeProto[] = [];
  const replacement = new Map<string, string>();
  const replace = (input: string, by: string, byType: number): string => {
    const known = replacement.get(input);
    if (known) return known;
    if (targets.some((t) => index.dataDescendants(input, stopAtCut).has(t))) throw leak(input, layer);
    const wanted = elemTypeOf(graph, index, input);
    let name = by;
    if (wanted !== 0 && byType !== 0 && wanted !== byType) {
      name = `d2pruner/${input}_like`;
      extra.push(node('Cast', [by], [name], { to: BigInt(wanted) }));
    }
    replacement.set(input, name);
    return name;
  };
  const earlierPast = /^past_key_values\.(\d+)\.(key|value)$/;
  const substitute = (input: string): string => {
    if (input === cut) return SPLIT_TENSORS.hidden;
    if (input === 'inputs_embeds') return replace(input, SPLIT_TENSORS.hidden, hiddenType);
    const m = earlierPast.exec(input);
    if (m && Number(m[1]) < layer) {
      const own = `past_key_values.${layer}.${m[2]}`;
      return replace(input, own, elemTypeOf(graph, index, own));
    }
    return input;
  };
  const rewritten = kept.map((n) => {
    const input = n.input.map((i) => (i === '' ? i : substitute(i)));
    return input.every((v, k) => v === n.input[k]) ? n : create(NodeProtoSchema, { ...clone(NodeProtoSchema, n), input });
  });
  const nodes = [...extra, ...rewritten];
  const { inputs, initializers, valueInfo } = collect(graph, nodes, options, externalData);
  const outputs = targets.map((name) => graph.output.find((o) => o.name === name)!);
  return create(GraphProtoSchema, {
    name: `${graph.name || 'decoder'}_suffix`,
    node: nodes,
    input: [hiddenInfo, ...inputs],
    output: outputs,
    initializer: initializers,
    valueInfo: valueInfo.filter((v) => v.name !== cut),
  });
}

/**
 * `hidden_states` as declared between the parts: the shape of `inputs_embeds`, the element type of the cut
 * (a float16 interface may compute the residual stream in float32 after a Cast).
 */
function hiddenStateInfo(graph: GraphProto, index: GraphIndex, cut: string, embeds: ValueInfoProto): ValueInfoProto {
  const embedsType = embeds.type?.value.case === 'tensorType' ? embeds.type.value.value.elemType : TensorProto_DataType.FLOAT;
  const elemType = elemTypeOf(graph, index, cut) || embedsType;
  return tensorInfo(SPLIT_TENSORS.hidden, elemType, dimsOf(embeds));
}

function leak(input: string, layer: number): ValidationError {
  return new ValidationError(
    'decoder',
    input,
    `reaches layers ≥ ${layer} or the logits other than through the cut (not just its shape); cannot split this graph — use layer: 0`,
  );
}
