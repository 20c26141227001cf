// The `rlhfc run` use case: the tensor backend, the plan under each seed run by runner.ts, the
// stage table and the HTML report after each, the `--seeds` summary, and the policy for Ctrl-C /
// SIGTERM (the first one stops at the next step boundary and saves a checkpoint, a second one quits
// at once). The command line (cli/main.ts) parses the arguments, compiles the spec (`planFor`: the
// runtime never reads the compiler) and turns the outcome into an exit code.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Plan } from '../core/plan-types.ts';
import { UserError, diag } from '../core/diagnostics.ts';
import { buildReport } from './html-report.ts';
import { runPlan, formatRunTable, type RunError } from './runner.ts';
import { evalReportsOf, formatSeedSummary, summarizeSeeds, type SeedEval } from './seeds.ts';
import { initBackend } from './tensor-backend.ts';
import { Interrupted } from './train/resume.ts';

export interface RunSpecOptions {
  specPath: string;
  /** Only this stage and what it needs. */
  stage?: string;
  force?: true | string[];
  storeDir?: string;
  /** The seeds to run the plan under, in order (one: a plain run). */
  seeds: number[];
  /** The plan under a seed (the caller compiles; `seeds[0]`'s plan may be one it already has). */
  planFor: (seed: number, index: number) => Plan;
  /** The tensor backend asked for ('auto', 'native', …). */
  backend: string;
  /** Recorded in each run's run.json. */
  argv: string[];
  /** The command that resumes this run, printed when it is interrupted. */
  resumeHint: string;
  /** The results (tables, report paths). */
  out: (s: string) => void;
  /** Progress, logs and notices. */
  err: (s: string) => void;
  /** A second SIGINT/SIGTERM: end the process at once (the last checkpoint is kept). */
  quitNow: () => never;
}

/** How a run ended when it did not throw: finished, or stopped by a signal with its work kept. */
export type RunSpecOutcome = 'ok' | 'interrupted';

/** Write a file of the run's results; a file system problem is the user's to fix, named by path. */
function writeResult(path: string, text: string, what: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    throw new UserError([
      diag('RLHF9005', `cannot write the ${what} ${path}: ${err.code === 'EISDIR' ? 'a folder has that name' : err.message} (${err.code})`, undefined, {
        notes: ['the stages\' results are stored; move what is in the way and run again (finished stages are cached), or write the report elsewhere with `rlhfc report <spec> --out <path>`'],
      }),
    ]);
  }
}

/** SIGINT/SIGTERM while `fn` runs: the first aborts `signal` (stop at a step boundary), a second quits. */
async function withStopSignals<T>(o: Pick<RunSpecOptions, 'err' | 'quitNow'>, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSig = (sig: string) => {
    if (ac.signal.aborted) {
      o.err(`\n${sig} again: quitting now; the last checkpoint is kept\n`);
      o.quitNow();
    }
    o.err(`\n${sig}: stopping at the next step boundary and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit at once)\n`);
    ac.abort();
  };
  const onInt = () => onSig('SIGINT');
  const onTerm = () => onSig('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

export async function runSpec(o: RunSpecOptions): Promise<RunSpecOutcome> {
  const b = await initBackend(o.backend);
  o.err(`${b.banner}\n`);
  const writeReport = (plan: Plan, storeDir: string) => {
    const reportPath = join(storeDir, 'report.html');
    writeResult(reportPath, buildReport(plan, storeDir), 'report');
    o.out(`\nreport: ${reportPath}\n`);
  };
  const many = o.seeds.length > 1;
  return withStopSignals(o, async (signal) => {
    const evals: SeedEval[] = [];
    let storeDir = '';
    let spec = '';
    try {
      for (const [i, seed] of o.seeds.entries()) {
        const plan = o.planFor(seed, i);
        spec ||= plan.spec;
        if (many) o.err(`\n== seed ${seed} (${i + 1} of ${o.seeds.length})\n`);
        try {
          const res = await runPlan(plan, {
            specPath: o.specPath,
            stage: o.stage,
            force: o.force,
            storeDir: o.storeDir,
            signal,
            backend: b.name,
            argv: o.argv,
            write: (l) => o.err(l + '\n'),
          });
          storeDir = res.storeDir;
          o.out(`\n${many ? `seed ${seed}\n` : ''}${formatRunTable(res)}\n`);
          writeReport(plan, res.storeDir);
          o.out(`run: ${res.runId}\n`);
        } catch (e) {
          const err = e as RunError;
          if (err.reports) {
            if (err.reports.length) o.out(`\n${formatRunTable({ stages: err.reports })}\n`);
            if (err.storeDir) {
              // The error that ended the run is the one to show; a report that cannot be written is a note.
              try {
                writeReport(plan, err.storeDir);
              } catch (r) {
                if (!(r instanceof UserError)) throw r;
                o.err(`note: ${r.diagnostics[0].message}\n`);
              }
            }
          }
          throw e;
        }
        if (signal.aborted) {
          o.err(`interrupted; finished stages are kept. ${o.resumeHint}\n`);
          return 'interrupted';
        }
        if (many) evals.push(...evalReportsOf(plan, storeDir));
      }
      if (many) {
        const rows = summarizeSeeds(evals);
        const seeds = o.seeds;
        const out = join(storeDir, `seeds-${seeds[0]}-${seeds[seeds.length - 1]}.json`);
        writeResult(out, JSON.stringify({ spec, seeds, rows }, null, 2) + '\n', 'seed summary');
        o.out(`\neval across ${seeds.length} seeds (${seeds.join(', ')}):\n${formatSeedSummary(rows)}\nsaved: ${out}\n`);
      }
      return 'ok';
    } catch (e) {
      if (e instanceof Interrupted) {
        o.err(`interrupted at step ${e.step}/${e.total} of the running stage; ${e.checkpoint ? `checkpoint saved in ${e.checkpoint}` : 'it had no checkpoint yet and restarts from its beginning'}; finished stages are kept.\n${o.resumeHint}\n`);
        return 'interrupted';
      }
      throw e;
    }
  });
}
