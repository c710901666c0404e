import { describe, expect, it } from 'vitest';
import { finishTimings, firstTokenBreakdown } from '../../../src/adapters/transformers/timings.js';
import type { PrefillTimings, PruningReport } from '../../../src/adapters/transformers/types.js';

const timings = (): PrefillTimings => ({
  textEmbedMs: 2,
  visionMs: 40,
  mergeMs: 1,
  scoringDecoderMs: 30,
  scoringMs: 0.5,
  selectMs: 3,
  gatherMs: 1.5,
  decoderMs: 100,
  overheadMs: 0,
  reused: false,
});

describe('prefill timings', () => {
  it('finishTimings: the overhead is the prefill less its four session steps (never below 0)', () => {
    const report = { timings: timings(), prefillMs: 0 } as PruningReport;
    finishTimings(report, 180);
    expect(report.prefillMs).toBe(180);
    expect(report.timings.overheadMs).toBe(180 - 2 - 40 - 30 - 100);
    finishTimings(report, 100);
    expect(report.timings.overheadMs).toBe(0);
  });

  it('firstTokenBreakdown: overhead = TTFT − vision − decoder runs, split into its parts', () => {
    const split = firstTokenBreakdown(timings(), 200);
    expect(split).toEqual({
      ttftMs: 200,
      visionMs: 40,
      decoderMs: 130,
      overheadMs: 30,
      share: 0.15,
      pruningMs: 6,
      importanceMs: 0.5,
      selectMs: 3,
      mergeGatherMs: 2.5,
      textEmbedMs: 2,
      otherMs: 22,
    });
  });
});
