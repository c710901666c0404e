/**
 * Type-level test: compiles options.typecheck.ts with the project's compiler options. A misspelt or foreign
 * method option must be a compile error for `select` and `withTokenPruning` alike; an `@ts-expect-error` that
 * no longer finds an error is itself reported, so this fails whenever the option types get looser.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('method options are typed per method', () => {
  it('rejects misspelt, foreign and mistyped options at compile time, and accepts the right ones', () => {
    const configPath = resolve(here, '../../tsconfig.json');
    const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const program = ts.createProgram([join(here, 'options.typecheck.ts')], { ...config.options, noEmit: true });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.endsWith('options.typecheck.ts'))
      .map((d) => `${d.file!.getLineAndCharacterOfPosition(d.start!).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
