/**
 * The pipeline specification every family must meet (issue 5), run per family by llava.test.ts,
 * qwen2vl.test.ts and idefics3.test.ts on a tiny fixture model through the real processor.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { RawImage } from '@huggingface/transformers';
import { ValidationError, familyOf, withTokenPruning } from './api.js';
import type { FixtureFamily } from '../../fixtures/families.js';
import {
  buildBatch,
  buildInputs,
  countSessionRuns,
  gatherRows,
  loadFixture,
  maxAbsDiff,
  positionRows,
  recordSessions,
  runDecoder,
  timeSessions,
  type Loaded,
} from './helpers.js';

/**
 * A batch of prompts of different lengths (left-padded) gives, row by row, the same kept tokens and the
 * same logits at every decoding step as each prompt run alone.
 */
export function batchSpec(name: string, loaded: () => Loaded, family: FixtureFamily, entries: () => Promise<{ images: RawImage[]; prompt: string }[]>, budget: number) {
  it(`${name}: a batch of prompts prunes each row as if it ran alone (padding kept through decoding)`, async () => {
    const { model } = loaded();
    const list = await entries();
    const batch = await buildBatch(loaded(), family, list);
    expect(batch.input_ids.dims[0]).toBe(list.length);
    const mask = Array.from(batch.attention_mask.data as BigInt64Array);
    expect(mask.includes(0n)).toBe(true); // the rows really are padded
    const steps = 4;
    const recorder = recordSessions(model);
    try {
      const pruned = withTokenPruning(model, { method: 'd2pruner', budget });
      const ids = await pruned.generate({ ...batch, max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
      const batchReport = pruned.lastPruning!;
      expect(batchReport.batch).toBe(list.length);
      const batchCalls = recorder.decoderCalls().map((c) => c.outputs.logits!);
      for (let b = 0; b < list.length; b++) {
        recorder.calls.length = 0;
        const single = await buildBatch(loaded(), family, [list[b]!]);
        const alone = withTokenPruning(model, { method: 'd2pruner', budget });
        const singleIds = await alone.generate({ ...single, max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
        const rowImages = batchReport.images.filter((image: { row: number }) => image.row === b);
        expect(rowImages.map((image: { keep: Int32Array }) => Array.from(image.keep))).toEqual(
          alone.lastPruning!.images.map((image: { keep: Int32Array }) => Array.from(image.keep)),
        );
        const singleCalls = recorder.decoderCalls().map((c) => c.outputs.logits!);
        expect(singleCalls.length).toBe(steps);
        for (let k = 0; k < steps; k++) {
          const vocab = singleCalls[k]!.dims.at(-1)!;
          const rowLogits = batchCalls[k]!.data.subarray(b * vocab, (b + 1) * vocab);
          expect(maxAbsDiff(rowLogits, singleCalls[k]!.data.subarray(-vocab))).toBeLessThan(1e-4);
        }
        const generated = (ids.tolist()[b] as bigint[]).slice(-steps);
        expect(generated).toEqual((singleIds.tolist()[0] as bigint[]).slice(-steps));
      }
    } finally {
      recorder.restore();
    }
  });
}

export interface SuiteSetup {
  family: FixtureFamily;
  /** Images of the single-image prompt. */
  images: () => Promise<RawImage[]>;
  prompt: string;
  /** Loads the model (default: the fixture of `family`); `family` still picks the processor call order. */
  load?: () => Promise<Loaded>;
  /** Name in test titles (default: `family`). */
  name?: string;
}

/** Visual-token count of each image of a prompt, found the way the adapter finds it. */
export function imageTokenCounts(model: any, inputs: any): number[] {
  return familyOf(model)
    .locateImages(model, inputs.input_ids.data, inputs)
    .map((image) => image.positions.length);
}

/** Sequence indices kept by the last pruned prefill: every non-visual token plus the kept visual ones. */
export function keptSequence(model: any, inputs: any, report: any): number[] {
  const images = familyOf(model).locateImages(model, inputs.input_ids.data, inputs);
  const length = inputs.input_ids.dims[1];
  const keep = new Uint8Array(length).fill(1);
  images.forEach((image, i) => {
    for (const p of image.positions) keep[p] = 0;
    for (const t of report.images[i].keep) keep[image.positions[t]!] = 1;
  });
  return [...keep.keys()].filter((j) => keep[j]);
}

export function pipelineSuite(setup: SuiteSetup): { loaded: () => Loaded; inputs: () => any } {
  let loaded: Loaded;
  let inputs: any;
  let tokens: number;

  beforeAll(async () => {
    loaded = setup.load ? await setup.load() : await loadFixture(setup.family);
    inputs = await buildInputs(loaded, setup.family, await setup.images(), setup.prompt);
    [tokens] = imageTokenCounts(loaded.model, inputs) as [number];
  });

  describe(`${setup.name ?? setup.family}: the pipeline contract`, () => {
    it('finds the visual tokens of the prompt', () => {
      expect(tokens).toBeGreaterThan(8);
    });

    it('budget = all tokens gives exactly the unpruned logits and text', async () => {
      const { model, processor } = loaded;
      const pruned = withTokenPruning(model, { method: 'd2pruner', budget: tokens });
      const base = await model.forward(inputs);
      const same = await pruned.forward(inputs);
      expect(same.logits.dims).toEqual(base.logits.dims);
      expect(maxAbsDiff(same.logits.data, base.logits.data)).toBe(0);
      expect(pruned.lastPruning!.after).toBe(tokens);

      const baseIds = await model.generate({ ...inputs, max_new_tokens: 8, do_sample: false });
      const prunedIds = await pruned.generate({ ...inputs, max_new_tokens: 8, do_sample: false });
      expect(prunedIds.tolist()).toEqual(baseIds.tolist());
      expect(processor.batch_decode(prunedIds, { skip_special_tokens: true })).toEqual(
        processor.batch_decode(baseIds, { skip_special_tokens: true }),
      );
    });

    for (const positions of ['original', 'compact'] as const) {
      it(`a pruned prefill sends exactly budget visual tokens and matches an independent decoder run (${positions} positions)`, async () => {
        const { model } = loaded;
        const budget = Math.floor(tokens / 3);
        const recorder = recordSessions(model);
        try {
          await model.forward(inputs);
          const pruned = withTokenPruning(model, { method: 'd2pruner', budget, positions });
          const out = await pruned.forward(inputs);
          const [baseCall, prunedCall] = recorder.decoderCalls();
          const length = inputs.input_ids.dims[1];
          const hidden = baseCall!.feeds.inputs_embeds!.dims[2]!;

          const report = pruned.lastPruning!;
          expect(report.before).toBe(tokens);
          expect(report.after).toBe(budget);
          expect(report.images[0]!.keep.length).toBe(budget);
          const kept = keptSequence(model, inputs, report);
          expect(kept.length).toBe(length - tokens + budget);
          expect(prunedCall!.feeds.inputs_embeds!.dims).toEqual([1, kept.length, hidden]);
          expect(prunedCall!.feeds.attention_mask!.dims).toEqual([1, kept.length]);
          expect(report.sequence).toEqual({ before: length, after: kept.length });

          // The decoder got exactly the unpruned merged rows of the kept tokens.
          const expectedEmbeds = gatherRows(baseCall!.feeds.inputs_embeds!.data, hidden, kept);
          expect(maxAbsDiff(prunedCall!.feeds.inputs_embeds!.data, expectedEmbeds)).toBe(0);

          // Positions: the unpruned run's positions of the kept tokens, or 0…L'−1.
          const basePositions = positionRows(baseCall!.feeds.position_ids!);
          const expectedPositions =
            positions === 'original'
              ? basePositions.map((axis) => kept.map((j) => axis[j]!))
              : basePositions.map(() => kept.map((_, j) => BigInt(j)));
          expect(positionRows(prunedCall!.feeds.position_ids!)).toEqual(expectedPositions);

          // An independent run of the decoder session on the kept subsequence gives the same logits.
          const direct = await runDecoder(model, recorder.ortTensor(), prunedCall!.feeds, expectedEmbeds, hidden, expectedPositions);
          expect(direct.dims).toEqual(out.logits.dims);
          expect(maxAbsDiff(direct.logits, out.logits.data)).toBe(0);
          // Pruning changed the result (the fixture is sensitive to which tokens are kept).
          expect(maxAbsDiff(direct.logits.subarray(-out.logits.dims[2]), baseCall!.outputs.logits!.data.subarray(-out.logits.dims[2]))).toBeGreaterThan(0);
        } finally {
          recorder.restore();
        }
      });

      it(`decoding after a pruned prefill continues with the right positions and cache length (${positions})`, async () => {
        const { model } = loaded;
        const steps = 6;
        const budget = Math.max(2, Math.floor(tokens / 4));
        const recorder = recordSessions(model);
        try {
          await model.generate({ ...inputs, max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
          const baseCalls = recorder.decoderCalls();
          recorder.calls.length = 0;
          const pruned = withTokenPruning(model, { method: 'd2pruner', budget, positions });
          const ids = await pruned.generate({ ...inputs, max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
          const calls = recorder.decoderCalls();
          expect(calls.length).toBe(steps);
          const prefillLength = calls[0]!.feeds.inputs_embeds!.dims[1]!;
          expect(prefillLength).toBe(inputs.input_ids.dims[1] - tokens + budget);
          const prefillPositions = positionRows(calls[0]!.feeds.position_ids!);
          const maxPrefill = prefillPositions.flat().reduce((a, b) => (b > a ? b : a), -1n);
          for (let k = 1; k < steps; k++) {
            const feeds = calls[k]!.feeds;
            expect(feeds.inputs_embeds!.dims[1]).toBe(1);
            expect(feeds['past_key_values.0.key']!.dims[2]).toBe(prefillLength + k - 1);
            expect(feeds.attention_mask!.dims[1]).toBe(prefillLength + k);
            const position = positionRows(feeds.position_ids!).map((axis) => axis[0]);
            if (positions === 'original') {
              // The same positions the unpruned run used at this step.
              expect(position).toEqual(positionRows(baseCalls[k]!.feeds.position_ids!).map((axis) => axis[0]));
            }
            expect(position.every((p) => p === maxPrefill + BigInt(k))).toBe(true);
          }

          // The last step's logits equal a cache-free run over the pruned prefill plus the generated tokens.
          const hidden = calls[0]!.feeds.inputs_embeds!.dims[2]!;
          const generated = (ids.tolist()[0] as bigint[]).slice(inputs.input_ids.dims[1], -1);
          const T = inputs.input_ids.constructor;
          const tokenEmbeds = await model.encode_text({ input_ids: new T('int64', BigInt64Array.from(generated), [1, generated.length]) });
          const embeds = new Float32Array((prefillLength + generated.length) * hidden);
          embeds.set(calls[0]!.feeds.inputs_embeds!.data);
          embeds.set(tokenEmbeds.data, prefillLength * hidden);
          const positionsAll = prefillPositions.map((axis) => [...axis, ...generated.map((_, k) => maxPrefill + BigInt(k + 1))]);
          const direct = await runDecoder(model, recorder.ortTensor(), calls[0]!.feeds, embeds, hidden, positionsAll);
          const vocab = direct.dims[2]!;
          const lastStep = calls[steps - 1]!.outputs.logits!.data as Float32Array;
          expect(maxAbsDiff(direct.logits.subarray(-vocab), lastStep.subarray(-vocab))).toBeLessThan(1e-4);
        } finally {
          recorder.restore();
        }
      });
    }

    it('reports where the prefill time went: sessions enclosed by their steps, overhead = the rest', async () => {
      const { model } = loaded;
      const timed = timeSessions(model);
      try {
        const pruned = withTokenPruning(model, { method: 'd2pruner', budget: Math.max(1, Math.floor(tokens / 3)) });
        await pruned.forward(inputs);
        const report = pruned.lastPruning!;
        const t = report.timings;
        for (const value of Object.values(t)) if (typeof value === 'number') expect(Number.isFinite(value) && value >= 0).toBe(true);
        expect(t.reused).toBe(false);
        expect(t.selectMs).toBe(report.selectMs);
        expect(t.scoringDecoderMs).toBe(0); // prompt relevance runs no session
        // Each step's time encloses its session's run.
        expect(t.visionMs).toBeGreaterThanOrEqual(timed.ms('vision_encoder'));
        expect(t.textEmbedMs).toBeGreaterThanOrEqual(timed.ms('embed_tokens'));
        expect(t.decoderMs).toBeGreaterThanOrEqual(timed.ms('decoder_model_merged'));
        expect(timed.count('decoder_model_merged')).toBe(1);
        expect(t.overheadMs).toBeCloseTo(report.prefillMs - t.textEmbedMs - t.visionMs - t.decoderMs, 9);
        expect(t.mergeMs + t.scoringMs + t.selectMs + t.gatherMs).toBeLessThanOrEqual(t.overheadMs + 1e-9);
      } finally {
        timed.restore();
      }
    });

    it('bad options throw clear errors before any session runs', async () => {
      const { model } = loaded;
      const counter = countSessionRuns(model);
      try {
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 0 })).toThrow(/budget/);
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 0 })).toThrow(ValidationError);
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 2.5 })).toThrow(/budget/);
        expect(() => withTokenPruning(model, { method: 'nope' as never, budget: 4 })).toThrow(/method.*d2pruner/);
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 4, pivotRatio: 2 })).toThrow(/pivotRatio/);
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 4, positions: 'shifted' as never })).toThrow(/positions/);
        const badPrior = { values: [1, 2, 3], grid: { rows: 2, cols: 2 }, provider: 'promptRelevance', prompt: 'x', imageCount: 1, modelId: 'm' };
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 4, prior: badPrior })).toThrow(/prior\.values/);
        expect(() => withTokenPruning(model, { method: 'd2pruner', budget: 4, importance: 'attention' })).toThrow(/importance/);

        const tooMany = withTokenPruning(model, { method: 'd2pruner', budget: tokens + 1 });
        await expect(tooMany.forward(inputs)).rejects.toThrow(ValidationError);
        await expect(tooMany.generate({ ...inputs, max_new_tokens: 2 })).rejects.toThrow(new RegExp(`budget.*\\[1, ${tokens}\\]`));
        const rawPrior = withTokenPruning(model, { method: 'd2pruner', budget: 4, prior: new Float32Array(tokens - 1).fill(1) });
        await expect(rawPrior.generate({ ...inputs, max_new_tokens: 2 })).rejects.toThrow(/prior/);
        expect(counter.count).toBe(0);
      } finally {
        counter.restore();
      }
    });

    it('rejects an unsupported model type naming the supported ones', () => {
      expect(() => withTokenPruning({ config: { model_type: 'bert' } }, { method: 'd2pruner', budget: 4 })).toThrow(
        /model_type.*supported: llava, llava_qwen2, llava_onevision, qwen2_vl, qwen2_5_vl, idefics3, smolvlm \(got "bert"\)/,
      );
    });

    it('several images in one prompt: each image gets the budget', async () => {
      const { model } = loaded;
      const images = await setup.images();
      const two = await buildInputs(loaded, setup.family, [images[0]!, images[0]!], setup.prompt);
      const counts = imageTokenCounts(model, two);
      expect(counts.length).toBe(2);
      const pruned = withTokenPruning(model, { method: 'd2pruner', budget: 0.25 });
      const recorder = recordSessions(model);
      try {
        await pruned.forward(two);
        const report = pruned.lastPruning!;
        const expected = counts.map((n) => Math.max(1, Math.round(0.25 * n)));
        expect(report.images.map((r: { after: number }) => r.after)).toEqual(expected);
        expect(report.after).toBe(expected[0]! + expected[1]!);
        const [call] = recorder.decoderCalls();
        const kept = keptSequence(model, two, report);
        expect(call!.feeds.inputs_embeds!.dims[1]).toBe(kept.length);
        expect(kept.length).toBe(two.input_ids.dims[1] - counts[0]! - counts[1]! + report.after);
      } finally {
        recorder.restore();
      }
    });
  });

  return { loaded: () => loaded, inputs: () => inputs };
}
