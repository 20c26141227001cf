// `rlhfc compile FILE --target trl --out DIR`: the TRL back end's entry point. Works out the
// cluster options (the spec's `cluster { ... }` block, overridden by flags), runs the emitter and
// writes the project. Diagnostics: RLHF5001 (warning: a value the target cannot express),
// RLHF5002 (error: an input the target cannot use), RLHF5003 (error: bad export options).

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Plan, PlanNode } from '../../../core/plan-types.ts';
import { diag, type Diagnostic } from '../../../core/diagnostics.ts';
import type { Span } from '../../../grammar/ast.ts';
import { displayPath } from '../../load.ts';
import { loadCorpus } from '../../../runtime/sources/dataset-corpus.ts';
import { DEFAULT_PROMPT_WORDS } from '../../../runtime/data/derive.ts';
import type { DatasetKind, ResolvedParams } from '../../../core/schema.ts';
import { CLUSTER_STRATEGIES, SETTINGS } from '../../../runtime/sources/index.ts';
import { exportTrl, type ClusterOptions, type ExportResult } from './emit.ts';

export { exportTrl, planHash, type ClusterOptions, type ExportResult } from './emit.ts';

/** Command-line overrides of the `cluster { ... }` block (strings as typed). */
export interface ClusterFlags {
  gpus?: string;
  nodes?: string;
  strategy?: string;
  mixedPrecision?: string;
  deterministic?: boolean;
}

/** Effective cluster options: flags over the spec's block over the schema defaults. */
export function clusterOptions(plan: Plan, flags: ClusterFlags): { cluster?: ClusterOptions; diagnostics: Diagnostic[] } {
  const spec = SETTINGS['cluster'];
  const defaults = spec.type === 'block' ? Object.fromEntries(Object.entries(spec.fields).map(([k, f]) => [k, 'default' in f ? f.default : undefined])) : {};
  const fromSpec = (plan.settings['cluster'] as ResolvedParams | null) ?? {};
  const c = { ...defaults, ...fromSpec } as Record<string, unknown>;
  const ds: Diagnostic[] = [];
  const count = (flag: string, v: string | undefined, key: string) => {
    if (v === undefined) return;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) ds.push(diag('RLHF5003', `--${flag} must be a positive integer, got '${v}'`));
    else c[key] = n;
  };
  count('gpus', flags.gpus, 'gpus');
  count('nodes', flags.nodes, 'nodes');
  if (flags.strategy !== undefined) {
    if (!(CLUSTER_STRATEGIES as readonly string[]).includes(flags.strategy)) ds.push(diag('RLHF5003', `--strategy must be one of ${CLUSTER_STRATEGIES.join(', ')}, got '${flags.strategy}'`));
    else c['strategy'] = flags.strategy;
  }
  if (flags.mixedPrecision !== undefined) {
    if (!['auto', 'no', 'fp16', 'bf16'].includes(flags.mixedPrecision)) ds.push(diag('RLHF5003', `--mixed-precision must be one of auto, no, fp16, bf16, got '${flags.mixedPrecision}'`));
    else c['mixed_precision'] = flags.mixedPrecision;
  }
  if (flags.deterministic) c['deterministic'] = true;
  return ds.length ? { diagnostics: ds } : { cluster: c as unknown as ClusterOptions, diagnostics: [] };
}

/** Span of a plan node's declaration (its name), for diagnostics with a source snippet. */
function spanLookup(plan: Plan, sources: Map<string, string>): (n: PlanNode) => Span | undefined {
  const mainDir = dirname(resolve(plan.spec));
  return (n) => {
    const file = displayPath(resolve(mainDir, n.loc.file));
    const text = sources.get(file);
    let offset = 0;
    if (text !== undefined) {
      const lines = text.split('\n');
      for (let i = 0; i < n.loc.line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += n.loc.col - 1;
    }
    return { file, start: { line: n.loc.line, col: n.loc.col, offset }, end: { line: n.loc.line, col: n.loc.col + n.name.length, offset: offset + n.name.length } };
  };
}

/** Records of a built-in corpus node, as the local runtime loads them (before `limit` and the split). */
function corpusRecords(n: PlanNode): object[] {
  const p = n.params;
  return loadCorpus(String(p['name']), {
    kind: n.datasetKind as DatasetKind,
    promptWords: typeof p['prompt_words'] === 'number' ? p['prompt_words'] : DEFAULT_PROMPT_WORDS,
    seed: 0,
  });
}

export interface ExportProjectOptions {
  specPath: string;
  outDir: string;
  flags: ClusterFlags;
  sources: Map<string, string>;
}

/** Build the project in memory (no files written). */
export function buildTrlProject(plan: Plan, o: Omit<ExportProjectOptions, 'flags'> & { cluster: ClusterOptions; smoke?: boolean }): ExportResult {
  return exportTrl(plan, {
    smoke: o.smoke,
    specDir: dirname(resolve(o.specPath)),
    outDir: resolve(o.outDir),
    cluster: o.cluster,
    spanOf: spanLookup(plan, o.sources),
    corpusRecords,
  });
}

/** Files this back end owns in an output folder; stale ones from an earlier export are removed. */
const OWNED_DIRS = ['stages', 'rlhf_export', 'data/sources', 'hooks'];

/** Write the project to `outDir`. Leaves data/<name>/, tokenizers/ and outputs/ (a previous run's results) alone. */
export function writeTrlProject(result: ExportResult, outDir: string): void {
  const out = resolve(outDir);
  for (const d of OWNED_DIRS) {
    const dir = join(out, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (!result.files.has(`${d}/${f}`) && !result.copies.has(`${d}/${f}`) && f !== '__pycache__') rmSync(join(dir, f), { recursive: true });
  }
  for (const [rel, text] of result.files) {
    const path = join(out, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text, rel.endsWith('.sh') ? { mode: 0o755 } : {});
  }
  for (const [rel, src] of result.copies) {
    const path = join(out, rel);
    mkdirSync(dirname(path), { recursive: true });
    copyFileSync(src, path);
  }
}
