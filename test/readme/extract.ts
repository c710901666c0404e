/**
 * Runs README.md's code blocks as written: a block is taken verbatim from the README, only the model id,
 * the image path and the package specifiers are rewritten to the mirroring fixture, a test image and the
 * source entries, and it is imported as a module (top-level await) whose variables are exported.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every ```ts block of README.md's section whose heading is `heading`. */
export function readmeBlocks(heading: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const end = readme.indexOf('\n## ', start + 4);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The README block that loads `modelId` (its `const id = '…'` line). */
export function readmeExample(heading: string, modelId: string): string {
  const block = readmeBlocks(heading).find((b) => b.includes(`'${modelId}'`));
  if (!block) throw new Error(`README.md section "${heading}" has no example loading '${modelId}'`);
  return block;
}

const ENTRIES: Record<string, string> = {
  d2pruner: 'src/index.ts',
  'd2pruner/transformers': 'src/entries/transformers.ts',
  'd2pruner/node': 'src/entries/node.ts',
};

/**
 * Writes `block` as a module next to this file with the model id, image path and package specifiers
 * replaced, exporting `names`, and imports it.
 */
export async function runExample(
  block: string,
  replace: { modelId: string; modelDir: string; imagePath: string; imageName?: string },
  names: string[],
): Promise<Record<string, any>> {
  const dir = join(ROOT, 'test/readme/.run');
  mkdirSync(dir, { recursive: true });
  let code = block.split(`'${replace.modelId}'`).join(JSON.stringify(replace.modelDir));
  code = code.split(`'${replace.imageName ?? 'photo.jpg'}'`).join(JSON.stringify(replace.imagePath));
  code = code.replace(/from '(d2pruner(?:\/[a-z]+)?)'/g, (_m, spec: string) => {
    const target = ENTRIES[spec];
    if (!target) throw new Error(`README example imports unknown entry '${spec}'`);
    return `from '${relative(dir, join(ROOT, target)).replace(/\\/g, '/')}'`;
  });
  code += `\nexport { ${names.join(', ')} };\n`;
  const file = join(dir, `example-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, code);
  return import(/* @vite-ignore */ file);
}
