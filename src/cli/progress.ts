import cliProgress from 'cli-progress';
import { ValidationError } from '../core/errors.js';

/** Options for {@link createProgress}. */
export interface ProgressOptions {
  /** Number of steps the work has (≥ 0). */
  total: number;
  /** Short name shown before the bar or at the start of each plain line, e.g. `"eval"`. */
  label: string;
  /** Print nothing at all (the `--quiet` flag). Default false. */
  quiet?: boolean;
  /** Where to write. Default `process.stderr`. Its `isTTY` decides between a bar and plain lines. */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Force the mode instead of reading `stream.isTTY` (tests). */
  tty?: boolean;
  /** Plain mode: write a line at most this often (ms). Default 5000. */
  intervalMs?: number;
  /** Plain mode: also write a line each time this fraction of `total` is passed. Default 0.1. */
  fractionStep?: number;
  /** Clock in ms (tests). Default `Date.now`. */
  now?: () => number;
}

/** A running progress report. All methods are safe to call after `stop()` (they do nothing). */
export interface Progress {
  /** Advances by `n` steps (default 1). */
  tick(n?: number): void;
  /** Sets the absolute number of steps done. */
  update(value: number): void;
  /** Finishes the report: the bar is completed and released, plain mode writes a final line. */
  stop(): void;
}

const DEFAULTS = Object.freeze({ intervalMs: 5000, fractionStep: 0.1 });

/**
 * Progress for long-running commands: a cli-progress bar (count, rate, ETA) when the stream is a TTY,
 * plain lines such as `eval: 120/500 (24%) 3.1/s, eta 2m03s` at most every `intervalMs` or every
 * `fractionStep` of the total when it is not (so CI logs stay readable), and nothing with `quiet`.
 *
 * @throws ValidationError when `total` is negative or not finite.
 */
export function createProgress(options: ProgressOptions): Progress {
  const { total, label } = options;
  if (!Number.isFinite(total) || total < 0) throw new ValidationError('total', total, 'must be a finite number ≥ 0');
  if (options.quiet) return { tick() {}, update() {}, stop() {} };
  const stream = (options.stream ?? process.stderr) as NodeJS.WriteStream;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const now = options.now ?? Date.now;
  return tty ? barProgress(total, label, stream) : plainProgress(total, label, stream, now, options);
}

function barProgress(total: number, label: string, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} {percentage}% | {rate}/s | eta {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 20,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let value = 0;
  let stopped = false;
  const rate = () => formatRate(value, (Date.now() - started) / 1000);
  bar.start(total, 0, { rate: rate() });
  return {
    tick(n = 1) {
      if (stopped) return;
      value += n;
      bar.update(value, { rate: rate() });
    },
    update(newValue) {
      if (stopped) return;
      value = newValue;
      bar.update(value, { rate: rate() });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.update(value, { rate: rate() });
      bar.stop();
    },
  };
}

function plainProgress(
  total: number,
  label: string,
  stream: NodeJS.WritableStream,
  now: () => number,
  options: ProgressOptions,
): Progress {
  const intervalMs = options.intervalMs ?? DEFAULTS.intervalMs;
  const fractionStep = options.fractionStep ?? DEFAULTS.fractionStep;
  const started = now();
  let value = 0;
  let lastLineAt = started;
  let lastFractionIndex = 0;
  let stopped = false;

  const line = (final: boolean) => {
    const seconds = (now() - started) / 1000;
    const percent = total > 0 ? ` (${Math.round((100 * value) / total)}%)` : '';
    const rateText = `${formatRate(value, seconds)}/s`;
    const tail = final
      ? `done in ${formatDuration(seconds)}`
      : value > 0 && total > value
        ? `eta ${formatDuration(((total - value) * seconds) / value)}`
        : 'eta ?';
    stream.write(`${label}: ${value}/${total}${percent} ${rateText}, ${tail}\n`);
  };

  const maybeLine = () => {
    const t = now();
    const fractionIndex = total > 0 && fractionStep > 0 ? Math.floor(value / (total * fractionStep)) : 0;
    if (value >= total) return; // the final line comes from stop()
    if (t - lastLineAt >= intervalMs || fractionIndex > lastFractionIndex) {
      lastLineAt = t;
      lastFractionIndex = fractionIndex;
      line(false);
    }
  };

  return {
    tick(n = 1) {
      if (stopped) return;
      value += n;
      maybeLine();
    },
    update(newValue) {
      if (stopped) return;
      value = newValue;
      maybeLine();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      line(true);
    },
  };
}

function formatRate(value: number, seconds: number): string {
  if (seconds <= 0) return '0.0';
  const rate = value / seconds;
  return rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2);
}

/** `75` → `1m15s`, `4.2` → `4.2s`, `3700` → `1h01m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
