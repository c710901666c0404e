/**
 * The package as a user installs it: `npm pack` the repository, unpack the tarball into a new consumer
 * project's node_modules (its dependencies linked from this checkout's node_modules, so nothing is fetched),
 * and check that
 *  - `d2pruner` and `d2pruner/transformers` build for the browser with Vite with no warning (in particular no
 *    "externalized for browser compatibility") and no error, and the core page really runs `select`;
 *  - the root entry loads nothing but the core (no Node built-in, no native module in its module graph);
 *  - Node code can `import` and `require()` the entries and find the shipped testbed model through an export.
 * It prints the gzip size of the `select`-only bundle (goal ≤ 10 KB; see the README).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let consumer: string;
let installed: string;

/** Writes the consumer project's pages. */
function writePages(root: string): void {
  writeFileSync(
    join(root, 'core.html'),
    '<!doctype html><html><body><pre id="out"></pre><script type="module" src="./core.js"></script></body></html>',
  );
  writeFileSync(
    join(root, 'core.js'),
    [
      "import { select } from 'd2pruner';",
      'const features = new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]);',
      "const result = select({ features, dims: [4, 2], importance: new Float32Array([4, 3, 2, 1]), budget: 2 }, { method: 'd2pruner' });",
      "document.getElementById('out').textContent = JSON.stringify(Array.from(result.keep));",
    ].join('\n'),
  );
  writeFileSync(
    join(root, 'adapters.html'),
    '<!doctype html><html><body><pre id="out"></pre><script type="module" src="./adapters.js"></script></body></html>',
  );
  writeFileSync(
    join(root, 'adapters.js'),
    [
      "import { withTokenPruning, supportedModelTypes } from 'd2pruner/transformers';",
      "document.getElementById('out').textContent = typeof withTokenPruning + ' ' + supportedModelTypes.join(',');",
    ].join('\n'),
  );
}

/** Builds one page with Vite, returning the output chunks and every warning Rollup/Vite reported. */
async function buildPage(page: string): Promise<{ chunks: Rollup.OutputChunk[]; warnings: string[]; thisRewrites: string[] }> {
  const warnings: string[] = [];
  // Rollup's THIS_IS_UNDEFINED notices for TypeScript's `(this && this.__asyncValues) || …` helpers in
  // @bufbuild/protobuf's compiled wire code (reached through the ONNX graph split): harmless, the helper's
  // fallback is used, so they are collected apart and reported; any other warning fails the build check.
  const thisRewrites: string[] = [];
  const output = await build({
    root: consumer,
    configFile: false,
    logLevel: 'silent',
    customLogger: {
      info() {},
      warn: (msg: string) => warnings.push(msg),
      warnOnce: (msg: string) => warnings.push(msg),
      error: (msg: string) => warnings.push(msg),
      clearScreen() {},
      hasErrorLogged: () => false,
      hasWarned: false,
    },
    build: {
      outDir: join(consumer, 'dist', page),
      emptyOutDir: true,
      minify: true,
      modulePreload: { polyfill: false },
      rollupOptions: { input: join(consumer, `${page}.html`), onwarn: (w) => (w.code === 'THIS_IS_UNDEFINED' && /node_modules\/@bufbuild\/protobuf\//.test(w.id ?? '') ? thisRewrites : warnings).push(w.message) },
    },
  });
  const results = (Array.isArray(output) ? output : [output]) as Rollup.RollupOutput[];
  const chunks = results.flatMap((r) => r.output.filter((o): o is Rollup.OutputChunk => o.type === 'chunk'));
  return { chunks, warnings, thisRewrites };
}

describe('the packed package in a consumer project', () => {
  beforeAll(() => {
    consumer = mkdtempSync(join(tmpdir(), 'd2pruner-consumer-'));
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const tarball = join(consumer, packed[0].filename);
    installed = join(consumer, 'node_modules/d2pruner');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
    // The consumer's other dependencies: this checkout's installed packages (no registry access in tests).
    for (const name of readdirSync(join(repo, 'node_modules'))) {
      if (name === '.bin' || name === '.package-lock.json' || name === 'd2pruner') continue;
      symlinkSync(join(repo, 'node_modules', name), join(consumer, 'node_modules', name));
    }
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writePages(consumer);
  }, 180_000);

  afterAll(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  it('ships the built entries, the testbed model and the licence, and no sources or tests', () => {
    expect(existsSync(join(installed, 'dist/index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist/entries/transformers.js'))).toBe(true);
    expect(existsSync(join(installed, 'models/testbed/config.json'))).toBe(true);
    expect(existsSync(join(installed, 'LICENSE'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
    expect(existsSync(join(installed, 'test'))).toBe(false);
  });

  it('builds a select-only page for the browser with no warning, small, and it runs', async () => {
    const { chunks, warnings, thisRewrites } = await buildPage('core');
    expect(warnings).toEqual([]);
    expect(thisRewrites).toEqual([]);
    const code = chunks.map((c) => c.code).join('\n');
    expect(code).not.toMatch(/sharp|node:fs|onnxruntime|__vite-browser-external/);
    const gzip = gzipSync(code).length;
    console.log(`select-only browser bundle: ${code.length} bytes, ${(gzip / 1024).toFixed(2)} KB gzip`);
    expect(gzip).toBeGreaterThan(0);
    // Run the bundle the way the page would, with a stand-in document.
    const out = { textContent: '' };
    const run = new Function('document', code.replace(/^import[^;]+;/gm, ''));
    run({ getElementById: () => out });
    expect(JSON.parse(out.textContent)).toHaveLength(2);
  }, 120_000);

  it('builds a page that imports the transformers.js adapters with no warning', async () => {
    const { chunks, warnings, thisRewrites } = await buildPage('adapters');
    expect(warnings).toEqual([]);
    if (thisRewrites.length) console.log(`adapters page: ${thisRewrites.length} THIS_IS_UNDEFINED notices from @bufbuild/protobuf's compiled helpers`);
    const code = chunks.map((c) => c.code).join('\n');
    // No import of a Node built-in or of sharp, static or dynamic (a decoder *path* reaches node:fs through
    // process.getBuiltinModule, which is absent in the browser).
    expect(code).not.toMatch(/__vite-browser-external|(from|import)\s*\(?\s*["']node:|["']sharp["']/);
    expect(code).toContain('qwen2_vl');
  }, 120_000);

  it('loads in Node by import and by require(), and points to the shipped model', () => {
    const script = [
      "const core = require('d2pruner');",
      "const { testbedModelDir } = require('d2pruner/node');",
      "const config = require('d2pruner/models/testbed/config.json');",
      "console.log(JSON.stringify({ select: typeof core.select, dir: testbedModelDir(), modelType: config.model_type }));",
    ].join('\n');
    const viaRequire = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: consumer, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    expect(viaRequire.select).toBe('function');
    expect(viaRequire.modelType).toBe('llava');
    expect(existsSync(join(viaRequire.dir, 'config.json'))).toBe(true);
    expect(resolve(viaRequire.dir)).toBe(resolve(installed, 'models/testbed'));
    const viaImport = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import { select } from 'd2pruner'; import { withTokenPruning } from 'd2pruner/transformers'; console.log(typeof select, typeof withTokenPruning);"],
      { cwd: consumer, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(viaImport.trim()).toBe('function function');
  });

  it('loads nothing but the core from the root entry (no Node built-ins, no native modules)', () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*['"]([^'"]+)['"]/g)) {
        expect(spec!.startsWith('.'), `${file} imports ${spec}`).toBe(true);
        visit(resolve(dirname(file), spec!));
      }
    };
    visit(join(installed, 'dist/index.js'));
    expect(seen.size).toBeGreaterThan(5);
    for (const file of seen) expect(file).not.toMatch(/adapters|visualize|testbed|eval|cli/);
  });
});
