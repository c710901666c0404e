/**
 * `withTokenPruning`'s wrapper: a callable object whose prototype is the loaded model, overriding `forward`
 * (pruned prefill, decoding steps), `prepare_inputs_for_generation` (a next turn on a pruned cache) and
 * `generate` (a loud error when the pruning prefill was bypassed). The steps live beside it: options.ts,
 * prefill.ts, gather.ts, decode.ts, continuation.ts, layer-split.ts.
 */
import { ValidationError } from '../../core/errors.js';
import { cacheTensor, continuePrunedCache, type PrunedCache } from './continuation.js';
import { decodeInputs, type DecodeState } from './decode.js';
import { layerDecode, layerPrunedPrefill, resolveLayer, type LayerDecodeState } from './layer-split.js';
import { resolveOptions } from './options.js';
import { prunedPrefill } from './prefill.js';
import { finishTimings } from './timings.js';
import type { FamilyAdapter, ModelInputs, PrunedModel, PruningReport, TensorLike, TokenPruningOptions, VisionLanguageModelLike } from './types.js';

/**
 * Wraps a loaded transformers.js vision-language model so that every prefill drops visual tokens before the
 * decoder. Returns a new object whose prototype is `model` (the original stays unpruned and usable side by
 * side; both share the ONNX sessions), with `forward` overridden, `lastPruning` and `unwrap()`.
 */
export function wrapModel<M extends object>(model: M, family: FamilyAdapter, options: TokenPruningOptions): PrunedModel<M> {
  const host = model as unknown as VisionLanguageModelLike;
  const layer = resolveLayer(options);
  const resolved = resolveOptions(host, layer > 0 ? { ...options, importance: undefined } : options);
  const layerStates = new WeakMap<object, LayerDecodeState>();
  const originalForward = host.forward;
  const states = new WeakMap<object, DecodeState>();
  // A pruned run's last cache tensor → its state; the caches generate() returned → state and sequences.
  const cacheStates = new WeakMap<object, DecodeState>();
  const prunedCaches = new WeakMap<object, PrunedCache>();
  const originalPrepare = (host as unknown as { prepare_inputs_for_generation(...args: unknown[]): unknown }).prepare_inputs_for_generation;
  const frozen = Object.freeze({ ...options });
  let lastPruning: PruningReport | null = null;
  let prefills = 0;
  // transformers.js models are callable (`model(inputs)` runs `_call` → `forward`); so is the wrapper: a
  // function whose prototype is the model, as transformers.js's own Callable is.
  const callable = (...args: unknown[]) => (callable as unknown as { _call(...a: unknown[]): unknown })._call(...args);
  const wrapper = Object.setPrototypeOf(callable, model) as VisionLanguageModelLike;
  const originalGenerate = host.generate;

  Object.defineProperties(wrapper, {
    forward: {
      value: async function forward(this: VisionLanguageModelLike, modelInputs: ModelInputs) {
        const inputIds = modelInputs.input_ids as TensorLike | undefined;
        const past = modelInputs.past_key_values as { get_seq_length(): number } | null | undefined;
        const pastLength = past ? past.get_seq_length() : 0;
        if (layer > 0) {
          // Pruning inside the decoder (layer-split.ts): its own prefill and decoding steps.
          if (modelInputs.pixel_values && inputIds && inputIds.dims[1]! > 1 && pastLength === 0 && !modelInputs.inputs_embeds) {
            const started = performance.now();
            const result = await layerPrunedPrefill(this, family, { ...resolved, layer, decoder: options.decoder }, originalForward, modelInputs);
            if (result) {
              prefills++;
              layerStates.set(modelInputs, result.state);
              finishTimings(result.report, performance.now() - started);
              lastPruning = result.report;
              return result.outputs;
            }
          }
          const layerState = layerStates.get(modelInputs);
          if (layerState && past && pastLength > 0 && inputIds) return layerDecode(this, modelInputs, layerState);
          return originalForward.call(this, modelInputs);
        }
        if (modelInputs.pixel_values && inputIds && inputIds.dims[1]! > 1 && pastLength === 0 && !modelInputs.inputs_embeds) {
          const started = performance.now();
          const result = await prunedPrefill(this, family, resolved, originalForward, modelInputs);
          prefills++;
          states.set(modelInputs, result.state);
          finishTimings(result.report, performance.now() - started);
          lastPruning = result.report;
          const present = cacheTensor(result.outputs);
          if (present) cacheStates.set(present, result.state);
          return result.outputs;
        }
        const state = states.get(modelInputs);
        if (state && past && pastLength > 0 && inputIds) {
          const outputs = await originalForward.call(this, decodeInputs(family, modelInputs, inputIds, pastLength, state));
          const present = cacheTensor(outputs);
          if (present) cacheStates.set(present, state);
          return outputs;
        }
        return originalForward.call(this, modelInputs);
      },
      writable: true,
      configurable: true,
    },
    prepare_inputs_for_generation: {
      value: function prepare_inputs_for_generation(this: VisionLanguageModelLike, ...args: unknown[]) {
        const modelInputs = args[1] as ModelInputs;
        const cache = modelInputs?.past_key_values ? prunedCaches.get(modelInputs.past_key_values) : undefined;
        // The first step of a turn that continues a pruned cache (later steps find their state).
        if (cache && layer === 0 && !states.has(modelInputs)) {
          states.set(modelInputs, continuePrunedCache(this, modelInputs, cache, Boolean(family.mrope)));
        }
        return originalPrepare.apply(this, args);
      },
      writable: true,
      configurable: true,
    },
    generate: {
      value: async function generate(this: VisionLanguageModelLike, generateOptions: Record<string, unknown>) {
        if (layer > 0 && generateOptions?.past_key_values != null) {
          throw new ValidationError(
            'past_key_values',
            typeof generateOptions.past_key_values,
            'cannot continue a cache with layer-K pruning; start each turn from the whole prompt without past_key_values',
          );
        }
        const before = prefills;
        const output = await originalGenerate.call(this, generateOptions);
        // A returned cache of a pruned run can be passed back for the next turn (continuePrunedCache).
        const returned = output as { past_key_values?: object; sequences?: TensorLike } | null;
        const state = returned?.past_key_values ? cacheStates.get(cacheTensor(returned.past_key_values) ?? {}) : undefined;
        if (state && returned!.sequences) prunedCaches.set(returned!.past_key_values!, { state, sequences: returned!.sequences });
        if (generateOptions?.pixel_values && generateOptions.past_key_values == null && prefills === before) {
          throw new Error(
            'withTokenPruning: generate() ran with pixel_values but the pruning prefill never ran, so the answer ' +
              'is unpruned; this transformers.js version no longer calls model.forward for the prefill ' +
              '(the wrapper was tested with @huggingface/transformers 4.3.1)',
          );
        }
        return output;
      },
      writable: true,
      configurable: true,
    },
    lastPruning: { get: () => lastPruning, configurable: true },
    pruning: { value: frozen, configurable: true },
    unwrap: { value: () => model, configurable: true },
  });
  return wrapper as unknown as PrunedModel<M>;
}
