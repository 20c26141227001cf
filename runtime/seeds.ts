// `rlhfc run --seeds N`: the same plan under N seeds, and what its eval stages say across them.
// One seed's run of a small model can move a judge's score as much as alignment does; the mean and
// standard deviation over seeds (and each seed's value) let a reader tell the effect from the noise.
// Reads the eval stages' report.json files from the store; no TensorFlow.js.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable } from '../core/table.ts';
import type { Plan } from '../core/plan-types.ts';
import { ArtifactStore } from './store.ts';
import { readJsonSync } from './validate/files.ts';
import { EvalReportSchema } from './validate/schemas.ts';

export interface EvalReportResult {
  model: string;
  mean_score: number;
  kl?: number;
  degeneration?: { words: { mean: number }; distinct_2: number };
  flags?: string[];
}

export interface SeedEval {
  seed: number;
  /** The eval stage's name. */
  stage: string;
  results: EvalReportResult[];
}

export interface Spread {
  mean: number;
  /** Sample standard deviation over seeds (n − 1); 0 for a single seed. */
  sd: number;
  values: number[];
}

export interface SeedSummaryRow {
  stage: string;
  model: string;
  seeds: number[];
  score: Spread;
  kl?: Spread;
  words?: Spread;
  distinct_2?: Spread;
  /** Seeds in which this model was flagged as possibly gaming its judge. */
  flagged: number[];
}

export function spread(values: number[]): Spread {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, values };
}

/** One row per eval stage and model, over the seeds that evaluated it, in first-seen order. */
export function summarizeSeeds(evals: SeedEval[]): SeedSummaryRow[] {
  const groups = new Map<string, { stage: string; model: string; runs: { seed: number; r: EvalReportResult }[] }>();
  for (const e of evals)
    for (const r of e.results) {
      const key = `${e.stage}\u0000${r.model}`;
      if (!groups.has(key)) groups.set(key, { stage: e.stage, model: r.model, runs: [] });
      groups.get(key)!.runs.push({ seed: e.seed, r });
    }
  return [...groups.values()].map(({ stage, model, runs }) => {
    const opt = (f: (r: EvalReportResult) => number | undefined) => {
      const v = runs.map((x) => f(x.r));
      return v.every((x) => x !== undefined && Number.isFinite(x)) ? spread(v as number[]) : undefined;
    };
    return {
      stage,
      model,
      seeds: runs.map((x) => x.seed),
      score: spread(runs.map((x) => x.r.mean_score)),
      kl: opt((r) => r.kl),
      words: opt((r) => r.degeneration?.words.mean),
      distinct_2: opt((r) => r.degeneration?.distinct_2),
      flagged: runs.filter((x) => x.r.flags?.length).map((x) => x.seed),
    };
  });
}

const pm = (s: Spread | undefined, d: number) => (s ? `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}` : '—');

/** The summary as a plain-text table: mean ± standard deviation over seeds. */
export function formatSeedSummary(rows: SeedSummaryRow[]): string {
  if (!rows.length) return 'no eval stage ran: nothing to compare across seeds';
  const head = ['stage', 'model', 'seeds', 'score', 'KL', 'words', 'distinct-2', 'flagged in seeds'];
  const body = rows.map((r) => [r.stage, r.model, String(r.seeds.length), pm(r.score, 3), pm(r.kl, 2), pm(r.words, 1), pm(r.distinct_2, 2), r.flagged.length ? r.flagged.join(', ') : '—']);
  return formatTable(head, body) + '\n(mean ± standard deviation over seeds)';
}

/** The eval stages' reports of one seed's finished run. */
export function evalReportsOf(plan: Plan, storeDir: string): SeedEval[] {
  const store = new ArtifactStore(storeDir);
  return plan.nodes
    .filter((n) => n.category === 'stage' && n.kind === 'eval' && store.isFinished(n.hash))
    .flatMap((n) => {
      const p = join(store.nodeDir(n.hash), 'report', 'report.json');
      if (!existsSync(p)) return [];
      return [{ seed: plan.seed, stage: n.name, results: readJsonSync(p, EvalReportSchema, { what: 'eval report' }).results }];
    });
}
