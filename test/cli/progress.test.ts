import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration } from '../../src/cli/progress.js';
import { ValidationError } from '../../src/core/errors.js';

function sink(): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createProgress', () => {
  it('writes nothing at all with quiet', () => {
    const out = sink();
    const progress = createProgress({ total: 10, label: 'eval', quiet: true, stream: out.stream, tty: false });
    for (let i = 0; i < 10; i++) progress.tick();
    progress.stop();
    expect(out.text()).toBe('');
  });

  it('writes a plain line every 10% when not a TTY, then a final line', () => {
    const out = sink();
    let clock = 0;
    const progress = createProgress({ total: 100, label: 'eval', stream: out.stream, tty: false, now: () => clock });
    for (let i = 0; i < 100; i++) {
      clock += 10; // 100 steps/s, never reaching the 5 s interval
      progress.tick();
    }
    progress.stop();
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(10); // 10%..90% and the final line
    expect(lines[0]).toBe('eval: 10/100 (10%) 100/s, eta 0.9s');
    expect(lines.at(-1)).toBe('eval: 100/100 (100%) 100/s, done in 1.0s');
    expect(out.text()).not.toMatch(/\x1b\[/); // no terminal escape codes in logs
  });

  it('writes a plain line when the interval passes even without a 10% step', () => {
    const out = sink();
    let clock = 0;
    const progress = createProgress({ total: 1000, label: 'bench', stream: out.stream, tty: false, now: () => clock });
    progress.tick(); // 0.1%: no line yet
    expect(out.text()).toBe('');
    clock = 6000;
    progress.update(5);
    expect(out.text()).toBe('bench: 5/1000 (1%) 0.83/s, eta 19m54s\n');
  });

  it('ignores calls after stop', () => {
    const out = sink();
    const progress = createProgress({ total: 2, label: 'x', stream: out.stream, tty: false, now: () => 1000 });
    progress.stop();
    progress.tick();
    progress.stop();
    expect(out.text().trim().split('\n')).toHaveLength(1);
  });

  it('draws a cli-progress bar with count, rate and ETA on a TTY', () => {
    const out = sink();
    const stream = Object.assign(out.stream, { isTTY: true, columns: 120, cursorTo() {}, clearLine() {}, moveCursor() {} });
    const progress = createProgress({ total: 4, label: 'fixtures', stream: stream as unknown as NodeJS.WriteStream });
    progress.tick(2);
    progress.tick(2);
    progress.stop();
    expect(out.text()).toMatch(/fixtures \[.*\] 4\/4 100% \| [\d.]+\/s \| eta /);
  });

  it('rejects a negative total', () => {
    expect(() => createProgress({ total: -1, label: 'x' })).toThrow(ValidationError);
  });

  it('formats durations', () => {
    expect(formatDuration(4.2)).toBe('4.2s');
    expect(formatDuration(75)).toBe('1m15s');
    expect(formatDuration(3700)).toBe('1h01m');
  });
});
