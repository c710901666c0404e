/** Summary of repeated timings, in milliseconds. */
export interface TimingSummary {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  runs: number;
}

/** Runs `task` `warmup` times untimed, then `runs` times timed with a monotonic clock. */
export function timeRuns(task: () => unknown, { runs = 9, warmup = 2 }: { runs?: number; warmup?: number } = {}): TimingSummary {
  for (let i = 0; i < warmup; i++) task();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    task();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(times);
}

/** Median, min and max of a list of times. */
export function summarize(times: readonly number[]): TimingSummary {
  const sorted = [...times].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median_ms: median, min_ms: sorted[0], max_ms: sorted[sorted.length - 1], runs: sorted.length };
}
