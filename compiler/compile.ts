// The compiler's entry point: load → resolve → check → plan. Each phase reports as many
// diagnostics as it can; the next phase runs only when the previous one found no errors.

import { loadProgram } from './load.ts';
import { resolve } from './resolve.ts';
import { check } from './check/index.ts';
import { buildPlan } from './plan.ts';
import { compareDiagnostics, type Diagnostic } from '../core/diagnostics.ts';
import type { Plan } from '../core/plan-types.ts';

export interface CompileOptions {
  stage?: string;
  /** Overrides the spec's `seed = N` setting (`--seed`); part of every node's hash. */
  seed?: number;
  /** File texts that replace the disk's (see loadProgram): the language server's open editors. */
  read?: (path: string) => string | undefined;
}

export interface CompileResult {
  plan?: Plan;
  diagnostics: Diagnostic[];
  /** Source texts by display path, for rendering diagnostics. */
  sources: Map<string, string>;
}

const hasErrors = (ds: Diagnostic[]) => ds.some((d) => d.severity === 'error');

export function compileFile(path: string, opts: CompileOptions = {}): CompileResult {
  const loaded = loadProgram(path, opts.read);
  const done = (diagnostics: Diagnostic[], plan?: Plan): CompileResult => ({ plan, diagnostics: diagnostics.sort(compareDiagnostics), sources: loaded.sources });
  if (hasErrors(loaded.diagnostics)) return done(loaded.diagnostics);
  const resolved = resolve(loaded.files);
  if (hasErrors(resolved.diagnostics)) return done(resolved.diagnostics);
  const checked = check(resolved, path);
  if (hasErrors(checked.diagnostics)) return done(checked.diagnostics);
  const seed = opts.seed ?? (checked.settings['seed'] as number);
  const { plan, diagnostics } = buildPlan(checked.nodes, {
    mainPath: path,
    seed,
    settings: { ...checked.settings, seed },
    stage: opts.stage,
  });
  return done(diagnostics, plan);
}
