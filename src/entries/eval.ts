/** `d2pruner/eval` (Node): the accuracy-versus-budget evaluation harness behind `d2pruner eval`. */
export { runEval, parseMethodSpec, type EvalOptions, type MethodSpec, type ResultRow, type TimingRow } from '../eval/run.js';
export { scoreAnswer, parseCases, readCases, normalizeAnswer, type EvalCase } from '../eval/score.js';
export { markdownTable, accuracyPlot, retention } from '../eval/report.js';
