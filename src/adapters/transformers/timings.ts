/**
 * Reading a pruned prefill's timings (PruningReport.timings): the prefill's own overhead, and the split of a
 * first answer's time that bench:e2e, the browser demo and the CLI print. Pure arithmetic, browser-safe.
 */
import type { PrefillTimings, PruningReport } from './types.js';

/** Sets `prefillMs` and the overhead it implies (the prefill's time outside the model's sessions). */
export function finishTimings(report: PruningReport, prefillMs: number): void {
  report.prefillMs = prefillMs;
  const t = report.timings;
  t.overheadMs = Math.max(0, prefillMs - t.textEmbedMs - t.visionMs - t.scoringDecoderMs - t.decoderMs);
}

/** A first answer's time split as bench:e2e splits it (ms; `share` = overhead ÷ TTFT). */
export interface FirstTokenBreakdown {
  ttftMs: number;
  visionMs: number;
  /** Every decoder run of the prefill: layers < K on the whole prompt and the decoder on the kept tokens. */
  decoderMs: number;
  /** TTFT − vision encoder − decoder runs. */
  overheadMs: number;
  share: number;
  /** What pruning computes itself: importance in JavaScript, selection, merge and gather. */
  pruningMs: number;
  importanceMs: number;
  selectMs: number;
  mergeGatherMs: number;
  textEmbedMs: number;
  /** The rest of the overhead: generate() setup, the host's input preparation, sampling the first token. */
  otherMs: number;
}

/** Splits the time to the first token `ttftMs` (measured by the caller) with a prefill's timings. */
export function firstTokenBreakdown(timings: PrefillTimings, ttftMs: number): FirstTokenBreakdown {
  const decoderMs = timings.scoringDecoderMs + timings.decoderMs;
  const overheadMs = ttftMs - timings.visionMs - decoderMs;
  const mergeGatherMs = timings.mergeMs + timings.gatherMs;
  const pruningMs = timings.scoringMs + timings.selectMs + mergeGatherMs;
  return {
    ttftMs,
    visionMs: timings.visionMs,
    decoderMs,
    overheadMs,
    share: overheadMs / ttftMs,
    pruningMs,
    importanceMs: timings.scoringMs,
    selectMs: timings.selectMs,
    mergeGatherMs,
    textEmbedMs: timings.textEmbedMs,
    otherMs: overheadMs - pruningMs - timings.textEmbedMs,
  };
}
