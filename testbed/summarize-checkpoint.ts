/**
 * Tables from an interrupted `d2pruner eval` run: reads the run's checkpoint (`<out>/.partial-<mode>.jsonl`,
 * one line per finished case) and writes results.json, results.md and accuracy.svg for the cases finished so
 * far, exactly as `d2pruner eval` would for those cases (same report functions, same per-case outcomes).
 *
 *   npx tsx testbed/summarize-checkpoint.ts CASES.jsonl CHECKPOINT OUT_DIR "TITLE NOTE" [meta.json]
 *
 * Used when a full evaluation does not fit the time at hand (docs/layer-k.md says which run this was).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Outcome } from '../src/eval/checkpoint.js';
import { accuracyPlot, markdownTable, pairedCounts, pairedTable } from '../src/eval/report.js';
import { summarizeOutcomes } from '../src/eval/run.js';
import { readCases } from '../src/eval/score.js';

const [casesFile, checkpoint, out, note = '', metaFile] = process.argv.slice(2);
if (!casesFile || !checkpoint || !out) throw new Error('usage: summarize-checkpoint.ts CASES.jsonl CHECKPOINT OUT_DIR [NOTE] [meta.json]');
const cases = readCases(casesFile);
const done = new Map<number, Outcome[]>();
for (const line of readFileSync(checkpoint, 'utf8').split('\n').slice(1)) {
  if (!line.trim()) continue;
  const entry = JSON.parse(line) as { index: number; outcomes: Outcome[] };
  done.set(entry.index, entry.outcomes);
}
// The finished prefix of the cases (0 … n−1), so the tasks stay balanced as they cycle.
let n = 0;
while (done.has(n)) n++;
const used = cases.slice(0, n);
const outcomes = used.map((_, i) => done.get(i)!);
const settings = outcomes[0]!.map((o) => ({ label: o.label, budget: o.budget }));
const { rows, timing } = summarizeOutcomes(used, settings, done);
const labels = [...new Set(settings.map((s) => s.label))];
const budgets = [...new Set(settings.map((s) => s.budget).filter((b) => b !== 'all'))];
const paired = pairedCounts(outcomes, 'd2pruner', labels.filter((l) => l !== 'none' && l !== 'd2pruner'), budgets);
const perCase = outcomes.map((list) => settings.map((s) => (list.find((x) => x.label === s.label && x.budget === s.budget)!.right ? '1' : '0')).join(''));
const meta = metaFile ? JSON.parse(readFileSync(metaFile, 'utf8')) : {};
writeFileSync(
  join(out, 'results.json'),
  JSON.stringify({ ...meta, cases: n, rows, timing, outcomes: { settings: settings.map((s) => ({ method: s.label, budget: s.budget })), cases: perCase } }, null, 2) + '\n',
);
const title = `accuracy vs kept visual tokens (layer mode, layer 2, first ${n} cases)`;
const table = markdownTable(rows, timing, 576, 'ms to first token', { standardErrors: true });
writeFileSync(
  join(out, 'results.md'),
  `# ${title}\n\n${note ? `${note}\n\n` : ''}Accuracy ± standard error (√(p(1−p)/n)) and retention of the unpruned accuracy.\n\n${table}\n## Paired: d2pruner against each other setting (same cases)\n\n${pairedTable(paired)}`,
);
writeFileSync(join(out, 'accuracy.svg'), accuracyPlot(rows, title));
process.stdout.write(`${n} cases\n${table}\n${pairedTable(paired)}`);
