/** The committed WebAssembly module is the one src/core/kernels.wat compiles to (wabt, no network). */
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('src/core/kernels-wasm.ts', () => {
  it('matches src/core/kernels.wat (npm run build:kernels regenerates it)', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-kernels.ts', '--check'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      status = (error as { status: number }).status;
      stderr = String((error as { stderr: Buffer }).stderr);
    }
    expect(stderr).toBe('');
    expect(status).toBe(0);
  }, 60_000);
});
