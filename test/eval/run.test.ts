import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseImagePath, parseMethodSpec, runEval, type EvalOptions } from '../../src/eval/run.js';
import { readCases } from '../../src/eval/score.js';
import { writeDataset } from '../../src/testbed/dataset.js';
import { readPriorFile } from '../../src/cli/files.js';
import { TESTBED_MODEL } from '../../src/cli/eval.js';

const root = mkdtempSync(join(tmpdir(), 'd2pruner-eval-'));

/** A small data set at `dir` (8 scenes, one question each: two cases per task). */
async function dataset(dir: string, seed: number): Promise<string> {
  await writeDataset({ seed, count: 8, out: dir });
  return join(dir, 'cases.jsonl');
}

function options(data: string, extra: Partial<EvalOptions> = {}): EvalOptions {
  return {
    cases: readCases(data),
    dataDir: join(data, '..'),
    model: TESTBED_MODEL,
    methods: ['none', 'random'].map(parseMethodSpec),
    budgets: [16],
    mode: 'input',
    maxNewTokens: 8,
    ...extra,
  };
}

/** Runs until `cases` cases are done, then stops as a kill would (the checkpoint keeps what was written). */
async function interruptedRun(opts: EvalOptions, cases: number): Promise<void> {
  await expect(
    runEval({
      ...opts,
      onProgress: (done) => {
        if (done === cases) throw new Error('killed');
      },
    }),
  ).rejects.toThrow('killed');
}

describe('eval checkpoint is keyed by content, not by path', () => {
  it('does not reuse outcomes of a cases file regenerated at the same path with another seed', async () => {
    const dir = join(root, 'regenerated');
    const data = await dataset(dir, 5);
    const checkpoint = join(root, 'regenerated.partial.jsonl');
    await interruptedRun(options(data, { checkpoint }), 6);

    await dataset(dir, 6); // same path, other content
    const fresh = await runEval(options(data));
    const infos: unknown[] = [];
    const resumed = await runEval(options(data, { checkpoint, onResume: (info) => infos.push(info) }));
    expect(resumed.rows).toEqual(fresh.rows);
    expect(resumed.rows.every((r) => r.n === 2)).toBe(true);
    // The run key covers the cases, so the old file is started afresh.
    expect(infos).toEqual([{ cases: 0, rejected: 0, restarted: true }]);
  }, 120_000);

  it('reuses a checkpoint of the same inputs, and only the cases whose image bytes are unchanged', async () => {
    const dir = join(root, 'resume');
    const data = await dataset(dir, 7);
    const checkpoint = join(root, 'resume.partial.jsonl');
    await interruptedRun(options(data, { checkpoint }), 5);
    // Another image written in place of case 2's image: same cases file, other pixels.
    const other = join(root, 'other');
    await writeDataset({ seed: 99, count: 8, out: other });
    const image = readCases(data)[2]!.image;
    cpSync(join(other, image), join(dir, image));
    const fresh = await runEval(options(data));
    const infos: unknown[] = [];
    const resumed = await runEval(options(data, { checkpoint, onResume: (info) => infos.push(info) }));
    expect(infos).toEqual([{ cases: 5, rejected: 0, restarted: false }]);
    // Case 2 ran again on its new image: each of its outcomes is recomputed, the checkpoint gained its line.
    const lines = readFileSync(checkpoint, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.index === 2)).toHaveLength(2);
    expect(resumed.rows).toEqual(fresh.rows);
  }, 120_000);

  it('starts afresh when the prior changes, and rejects checkpoint lines that parse but do not fit', async () => {
    const dir = join(root, 'malformed');
    const data = await dataset(dir, 8);
    const checkpoint = join(root, 'malformed.partial.jsonl');
    const prior = readPriorFile(join(TESTBED_MODEL, 'prior.json'));
    const methods = ['none', 'd2pruner'].map(parseMethodSpec);
    await interruptedRun(options(data, { checkpoint, prior, methods }), 3);
    const header = readFileSync(checkpoint, 'utf8').split('\n')[0]!;
    const hash = JSON.parse(readFileSync(checkpoint, 'utf8').split('\n')[1]!).case;
    appendFileSync(
      checkpoint,
      [
        { index: 3, outcomes: [] },
        { index: 4, case: hash, outcomes: [] },
        { index: 5, case: hash, outcomes: [{ label: 'none', budget: 'all', right: 'yes', ms: 1 }, { label: 'd2pruner', budget: 16, right: true, ms: 1 }] },
        { index: 6, case: hash, outcomes: [{ label: 'none', budget: 'all', right: true, ms: 1 }, { label: 'fastv', budget: 16, right: true, ms: 1 }] },
        { index: 99, case: hash, outcomes: [] },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const infos: unknown[] = [];
    const result = await runEval(options(data, { checkpoint, prior, methods, onResume: (info) => infos.push(info) }));
    expect(infos).toEqual([{ cases: 3, rejected: 5, restarted: false }]);
    expect(result.rows.every((r) => r.n === 2)).toBe(true);

    // The same file with a prior rewritten in place: another run key, started afresh.
    writeFileSync(checkpoint, header + '\n');
    const changed = { ...prior, values: prior.values.map((v, i) => (i === 0 ? v * 2 : v)) };
    const infos2: unknown[] = [];
    await interruptedRun(options(data, { checkpoint, prior: changed, methods, onResume: (info) => infos2.push(info) }), 1);
    expect(infos2).toEqual([{ cases: 0, rejected: 0, restarted: true }]);
  }, 120_000);

  it('writes each method row once for --methods fastv,fastv and budgets 16,16', async () => {
    const data = await dataset(join(root, 'dup'), 9);
    const { rows, timing } = await runEval(options(data, { methods: ['none', 'fastv', 'fastv'].map(parseMethodSpec), budgets: [16, 16] }));
    expect(rows.map((r) => `${r.method}@${r.budget}`)).toEqual([
      ...['yesno', 'color', 'count', 'grounding'].map(() => 'none@all'),
      ...['yesno', 'color', 'count', 'grounding'].map(() => 'fastv@16'),
    ]);
    expect(timing).toHaveLength(2);
  }, 120_000);
});

describe('layer mode through the automatic split', () => {
  it('prunes the shipped model before layer 2 (default) and returns every case’s outcomes', async () => {
    const data = await dataset(join(root, 'layer'), 11);
    const { rows, outcomes } = await runEval(options(data, { mode: 'layer', methods: ['none', 'fastv'].map(parseMethodSpec), budgets: [64] }));
    expect(rows.map((r) => `${r.method}@${r.budget}:${r.n}`)).toEqual([
      ...['yesno', 'color', 'count', 'grounding'].map(() => 'none@all:2'),
      ...['yesno', 'color', 'count', 'grounding'].map(() => 'fastv@64:2'),
    ]);
    expect(outcomes).toHaveLength(8);
    for (const list of outcomes) expect(list.map((o) => `${o.label}@${o.budget}`)).toEqual(['none@all', 'fastv@64']);
    // The unsplit model answers most of these (0.96–1.0 per task on held-out cases).
    expect(rows.filter((r) => r.method === 'none').reduce((a, r) => a + r.accuracy, 0) / 4).toBeGreaterThanOrEqual(0.75);
  }, 240_000);

  it('rejects a layer below 1 and a layer past the decoder, naming the field', async () => {
    const data = await dataset(join(root, 'layer-bad'), 12);
    await expect(runEval(options(data, { mode: 'layer', layer: 0 }))).rejects.toThrow(/^layer: must be an integer ≥ 1/);
    await expect(runEval(options(data, { mode: 'layer', layer: 4 }))).rejects.toThrow(/^layer: must be an integer in \[1, 3\]/);
  }, 120_000);
});

describe('case image paths', () => {
  it('stay inside the data folder', () => {
    expect(caseImagePath('/data/set', 'images/000001.png')).toBe('/data/set/images/000001.png');
    for (const bad of ['../../../etc/passwd', '/etc/passwd', 'images/../../x.png', '.', '']) {
      expect(() => caseImagePath('/data/set', bad)).toThrow(/^cases: case image paths must stay inside the data folder/);
    }
  });
});
