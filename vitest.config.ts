import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share a 2-core machine with model sessions; forks keep native addons (sharp, onnxruntime) isolated.
    pool: 'forks',
  },
});
