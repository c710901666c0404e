import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// D2PRUNER_TRANSFORMERS=<folder of an unpacked @huggingface/transformers> runs the tests against that version
// instead of the pinned dev dependency (e.g. the newest 4.x before widening the peer range). The folder must
// sit under a node_modules folder that also holds its dependencies, so Node loads it natively.
const transformersDir = process.env.D2PRUNER_TRANSFORMERS;
let alias: { find: RegExp; replacement: string }[] = [];
if (transformersDir) {
  const entry = join(transformersDir, 'dist', 'transformers.node.mjs');
  if (!existsSync(entry)) throw new Error(`D2PRUNER_TRANSFORMERS: no ${entry}`);
  const { version } = JSON.parse(readFileSync(join(transformersDir, 'package.json'), 'utf8'));
  console.log(`@huggingface/transformers ${version} from ${transformersDir}`);
  alias = [{ find: /^@huggingface\/transformers$/, replacement: entry }];
}

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share a 2-core machine with model sessions; forks keep native addons (sharp, onnxruntime) isolated.
    pool: 'forks',
  },
});
