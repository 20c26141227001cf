// The `rlhfc` command line. Exit codes: 0 success, 1 errors in the spec (or a stage failed on
// bad data), 2 usage errors, 3 internal errors (a bug: reported with a stack trace), 130 interrupted.

import { Command, CommanderError, Option } from 'commander';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { compileFile, type CompileResult } from '../compiler/compile.ts';
import { diag, renderDiagnostics, UserError, type Diagnostic } from '../core/diagnostics.ts';
import { renderDot, renderJson, renderText } from '../compiler/render.ts';
import { COMPILER_VERSION } from '../compiler/plan.ts';
import { formatTable } from '../core/table.ts';

export const EXIT = { ok: 0, spec: 1, usage: 2, internal: 3, interrupted: 130 } as const;

const BACKENDS = ['auto', 'webgpu', 'native', 'tensorflow', 'wasm', 'cpu'];

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

class Exit extends Error {
  constructor(public readonly code: number) {
    super(`exit ${code}`);
  }
}

function report(io: Io, r: { diagnostics: Diagnostic[]; sources: Map<string, string> }): void {
  const text = renderDiagnostics(r.diagnostics, (p) => r.sources.get(p));
  if (text) io.err(text);
}

/** `--seed N`: a whole number ≥ 0, else a usage error. */
function parseSeed(io: Io, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) {
    io.err(`error: --seed must be a whole number from 0 to 2147483647, got '${v}'\n`);
    throw new Exit(EXIT.usage);
  }
  return n;
}

function compileOrExit(io: Io, file: string, stage?: string, seed?: number): CompileResult & { plan: NonNullable<CompileResult['plan']> } {
  const r = compileFile(file, { stage, seed });
  report(io, r);
  if (!r.plan || r.diagnostics.some((d) => d.severity === 'error')) throw new Exit(r.diagnostics.some((d) => d.code === 'RLHF9001' || d.code === 'RLHF4002') ? EXIT.usage : EXIT.spec);
  return r as CompileResult & { plan: NonNullable<CompileResult['plan']> };
}

interface TrlOptions {
  target?: 'trl';
  out?: string;
  gpus?: string;
  nodes?: string;
  strategy?: string;
  mixedPrecision?: string;
  deterministic?: boolean;
  strict?: boolean;
  smoke?: boolean;
}

/** `compile --target trl --out DIR`: write the TRL + Accelerate project (compiler/export/trl). */
async function exportTrlProject(io: Io, file: string, r: CompileResult & { plan: NonNullable<CompileResult['plan']> }, o: TrlOptions): Promise<void> {
  const trl = await import('../compiler/export/trl/index.ts');
  const usage = (message: string) => {
    report(io, { diagnostics: [diag('RLHF5003', message)], sources: r.sources });
    throw new Exit(EXIT.usage);
  };
  if (!o.out) usage('--target trl needs --out DIR, the folder to write the project to');
  if (existsSync(o.out!) && !statSync(o.out!).isDirectory()) usage(`--out ${o.out} is not a folder: give a folder to write the project to (it is created if missing)`);
  const c = trl.clusterOptions(r.plan, o);
  if (!c.cluster) {
    report(io, { diagnostics: c.diagnostics, sources: r.sources });
    throw new Exit(EXIT.usage);
  }
  const result = trl.buildTrlProject(r.plan, { specPath: file, outDir: o.out!, sources: r.sources, cluster: c.cluster, smoke: o.smoke });
  // --strict: a parameter the target cannot express is an error, and nothing is written.
  if (o.strict) for (const d of result.diagnostics) if (d.code === 'RLHF5001') d.severity = 'error';
  report(io, { diagnostics: result.diagnostics, sources: r.sources });
  if (result.diagnostics.some((d) => d.severity === 'error')) throw new Exit(EXIT.spec);
  try {
    trl.writeTrlProject(result, o.out!);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    // A file where a folder of the project goes, no permission, a full disk: the user's to fix.
    report(io, { diagnostics: [diag('RLHF9005', `cannot write the TRL project to ${o.out}: ${err.message}`)], sources: r.sources });
    throw new Exit(EXIT.spec);
  }
  const stages = r.plan.nodes.filter((n) => n.category === 'stage').length;
  io.out(`${o.out}: TRL project for ${stages} stage${stages === 1 ? '' : 's'} (plan ${trl.planHash(r.plan)}); run it with ${join(o.out!, 'run.sh')}\n`);
}

/** Each command registers itself here; adding a command is one function. */
type Register = (program: Command, io: Io) => void;

const checkCmd: Register = (program, io) =>
  program
    .command('check')
    .description('parse, resolve and type-check a spec; print diagnostics only')
    .argument('<file>', '.rlhf spec')
    .action((file: string) => {
      const r = compileOrExit(io, file);
      const stages = r.plan.nodes.filter((n) => n.category === 'stage').length;
      io.out(`${file}: ok (${stages} stage${stages === 1 ? '' : 's'})\n`);
    });

const compileCmd: Register = (program, io) =>
  program
    .command('compile')
    .description('print the execution plan: stages in dependency order with resolved parameters')
    .argument('<file>', '.rlhf spec')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json', 'dot']).default('text'))
    .option('-s, --stage <name>', 'only this stage and what it needs')
    .option('--store <dir>', 'artifact store to compare against (default: the spec\'s `artifacts` setting, .rlhfc)')
    .addOption(new Option('-t, --target <target>', 'instead of printing the plan, write a project for this engine').choices(['trl']))
    .option('-o, --out <dir>', 'with --target trl: folder to write the project to')
    .option('--gpus <n>', 'with --target trl: GPUs per node (overrides cluster { gpus })')
    .option('--nodes <n>', 'with --target trl: machines (overrides cluster { nodes })')
    .option('--strategy <name>', 'with --target trl: ddp, zero2, zero3 or fsdp (overrides cluster { strategy })')
    .option('--mixed-precision <mode>', 'with --target trl: auto (the default: bf16 where the GPU supports it, else fp32, decided at run time), no, fp16 or bf16 (overrides cluster { mixed_precision })')
    .option('--deterministic', 'with --target trl: reproducible runs (deterministic torch algorithms, the cuBLAS workspace setting, Transformers full_determinism; slower on GPUs)')
    .option('--strict', 'with --target trl: a parameter with no TRL equivalent (RLHF5001) is an error instead of a warning')
    .option('--smoke', 'with --target trl: a smoke-scale project (a few records and steps) that proves every step runs')
    .option('--seed <n>', 'override the spec\'s seed')
    .action(async (file: string, o: { format: string; stage?: string; store?: string; seed?: string } & TrlOptions) => {
      const r = compileOrExit(io, file, o.stage, parseSeed(io, o.seed));
      if (o.target === 'trl') return exportTrlProject(io, file, r, o);
      if (o.format === 'json') io.out(renderJson(r.plan));
      else if (o.format === 'dot') io.out(renderDot(r.plan));
      else {
        // Mark each stage cached / resume / stale (with the reason) / run, from the artifact store.
        const { planStatus, statusSummary } = await import('../runtime/status.ts');
        const { storeDirOf } = await import('../runtime/store.ts');
        const nodes = planStatus(r.plan, storeDirOf(r.plan, file, o.store));
        io.out(renderText(r.plan, { nodes, summary: statusSummary(r.plan, nodes) }));
      }
    });

const runCmd: Register = (program, io) =>
  program
    .command('run')
    .description('run the plan: stages in dependency order, reusing finished ones from the artifact store and resuming interrupted ones')
    .argument('<file>', '.rlhf spec')
    .option('-s, --stage <name>', 'only this stage and what it needs')
    .option('--force [names...]', 're-run these stages (all when no name is given) even if finished')
    .addOption(new Option('--backend <name>', 'tensor backend').choices(BACKENDS).default(process.env.RLHFC_BACKEND ?? 'auto'))
    .option('--store <dir>', 'artifact store folder (default: the spec\'s `artifacts` setting, .rlhfc)')
    .option('--seed <n>', 'override the spec\'s seed (a different seed is a different cache key)')
    .option('--seeds <n>', 'run the plan under N seeds (the spec\'s or --seed\'s, and the N − 1 after it) and compare its eval stages across them: mean ± standard deviation')
    .action(async (file: string, o: { stage?: string; force?: true | string[]; backend: string; store?: string; seed?: string; seeds?: string }) => {
      const first = compileOrExit(io, file, o.stage, parseSeed(io, o.seed));
      const seeds = parseSeedCount(io, o.seeds, first.plan.seed);
      const { runSpec } = await import('../runtime/run.ts');
      const outcome = await runSpec({
        specPath: file,
        stage: o.stage,
        force: o.force,
        storeDir: o.store,
        seeds,
        planFor: (seed, i) => (i === 0 ? first : compileOrExit(io, file, o.stage, seed)).plan,
        backend: o.backend,
        argv: process.argv.slice(2),
        // The same command resumes: with --seeds, the seeds already finished are cached.
        resumeHint: `resume with: rlhfc run ${file}${o.stage ? ` --stage ${o.stage}` : ''}${o.seed ? ` --seed ${o.seed}` : ''}${o.seeds ? ` --seeds ${o.seeds}` : ''}${o.store ? ` --store ${o.store}` : ''}`,
        out: io.out,
        err: io.err,
        quitNow: () => process.exit(EXIT.interrupted),
      });
      if (outcome === 'interrupted') throw new Exit(EXIT.interrupted);
    });

/** `--seeds N`: the seeds to run, from the plan's; none given is the plan's seed alone. */
function parseSeedCount(io: Io, v: string | undefined, base: number): number[] {
  if (v === undefined) return [base];
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100 || base + n - 1 > 2 ** 31 - 1) {
    io.err(`error: --seeds must be a whole number from 1 to 100 (seeds ${base}, ${base + 1}, …), got '${v}'\n`);
    throw new Exit(EXIT.usage);
  }
  return Array.from({ length: n }, (_, i) => base + i);
}

/** The store a store-level command works on: `--store`, else the first spec's, else ./.rlhfc (or an old ./.rlhf). */
async function storeFor(io: Io, file: string | undefined, store: string | undefined): Promise<string> {
  const { defaultStoreIn, storeDirOf } = await import('../runtime/store.ts');
  if (!file) return store ? resolve(store) : defaultStoreIn(process.cwd());
  return storeDirOf(compileOrExit(io, file).plan, file, store);
}

const reportCmd: Register = (program, io) =>
  program
    .command('report')
    .description('write the HTML report (plan graph, curves, samples) of a spec, or of a past run by its id (see `rlhfc runs`)')
    .argument('<spec-or-run>', '.rlhf spec, or a run id')
    .option('-o, --out <path>', 'where to write the page (default: <store>/report.html, or <store>/runs/<id>/report.html)')
    .option('--store <dir>', 'artifact store folder (default: the spec\'s, or ./.rlhfc for a run id)')
    .action(async (what: string, o: { out?: string; store?: string }) => {
      const { buildReport } = await import('../runtime/html-report.ts');
      let plan: import('../core/plan-types.ts').Plan;
      let storeDir: string;
      let out: string;
      if (what.endsWith('.rlhf') || existsSync(what)) {
        plan = compileOrExit(io, what).plan;
        const { storeDirOf } = await import('../runtime/store.ts');
        storeDir = storeDirOf(plan, what, o.store);
        out = o.out ?? join(storeDir, 'report.html');
      } else {
        const { ArtifactStore, defaultStoreIn } = await import('../runtime/store.ts');
        storeDir = o.store ? resolve(o.store) : defaultStoreIn(process.cwd());
        const store = new ArtifactStore(storeDir);
        const run = store.runs().find((r) => r.id === what || r.id.startsWith(what));
        if (!run) {
          io.err(`error: no run '${what}' in ${storeDir} (\`rlhfc runs\` lists them; pass --store for another store)\n`);
          throw new Exit(EXIT.usage);
        }
        plan = store.runPlan(run.id) as typeof plan;
        out = o.out ?? join(store.runDir(run.id), 'report.html');
      }
      mkdirSync(dirname(resolve(out)), { recursive: true });
      writeFileSync(out, buildReport(plan, storeDir));
      io.out(`report: ${out}\n`);
    });

const runsCmd: Register = (program, io) =>
  program
    .command('runs')
    .description('list past runs of a store, newest first, with their status and where their logs are')
    .argument('[file]', '.rlhf spec whose store to read (default: ./.rlhfc)')
    .option('--store <dir>', 'artifact store folder')
    .option('-n, --limit <n>', 'show at most n runs', '20')
    .action(async (file: string | undefined, o: { store?: string; limit: string }) => {
      const { ArtifactStore } = await import('../runtime/store.ts');
      const store = new ArtifactStore(await storeFor(io, file, o.store));
      const runs = store.runs().slice(0, Math.max(1, Number(o.limit) || 20));
      if (!runs.length) {
        io.out(`no runs in ${store.root}\n`);
        return;
      }
      const secs = (r: (typeof runs)[number]) => (r.ended ? (Date.parse(r.ended) - Date.parse(r.started)) / 1000 : NaN);
      const count = (r: (typeof runs)[number]) => {
        const c = new Map<string, number>();
        for (const s of r.stages) c.set(s.status, (c.get(s.status) ?? 0) + 1);
        return [...c].map(([k, v]) => `${v} ${k}`).join(', ') || '—';
      };
      const rows = runs.map((r) => [r.id, r.started.slice(0, 19).replace('T', ' '), Number.isNaN(secs(r)) ? '—' : `${secs(r).toFixed(1)} s`, r.shownStatus, count(r), r.spec, r.backend ?? '']);
      const head = ['run', 'started (UTC)', 'time', 'status', 'stages', 'spec', 'backend'];
      io.out(formatTable(head, rows) + '\n');
      io.out(`\nlogs and metrics: ${join(store.root, 'runs', '<run>')}/ (log.txt, metrics.jsonl, run.json, plan.json)\n`);
    });

/** Take the store's lock for a cleaning command; a store in use by a run is left alone (exit 1). */
function lockOrExit(io: Io, store: import('../runtime/store.ts').ArtifactStore): () => void {
  if (!store.exists()) return () => {};
  try {
    return store.lock();
  } catch (e) {
    io.err(`error: ${(e as Error).message}\n`);
    throw new Exit(EXIT.spec);
  }
}

function printRemoval(io: Io, entries: import('../runtime/store.ts').GcEntry[], dryRun: boolean, root: string, fmt: (n: number) => string): void {
  for (const e of entries) io.out(`${dryRun ? 'would remove' : 'removed'}  ${fmt(e.bytes).padStart(10)}  ${relative(root, e.path)}  (${e.what})\n`);
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  io.out(`${entries.length ? '' : 'nothing to remove; '}${dryRun ? 'would free' : 'freed'} ${fmt(total)} in ${root}\n`);
}

const cleanCmd: Register = (program, io) =>
  program
    .command('clean')
    .description('remove leftovers of interrupted work: temp folders of stopped processes and superseded checkpoints (never finished results or resumable checkpoints)')
    .argument('[file]', '.rlhf spec whose store to clean (default: ./.rlhfc)')
    .option('--store <dir>', 'artifact store folder')
    .option('--dry-run', 'only list what would be removed')
    .action(async (file: string | undefined, o: { store?: string; dryRun?: boolean }) => {
      const { ArtifactStore, formatBytes } = await import('../runtime/store.ts');
      const store = new ArtifactStore(await storeFor(io, file, o.store));
      const unlock = lockOrExit(io, store);
      const entries = store.leftovers();
      if (!o.dryRun) store.remove(entries);
      unlock();
      printRemoval(io, entries, Boolean(o.dryRun), store.root, formatBytes);
    });

const gcCmd: Register = (program, io) =>
  program
    .command('gc')
    .description('remove stored results and checkpoints that neither the given specs\' current plans nor the latest runs use (plus what `clean` removes)')
    .argument('[files...]', '.rlhf specs whose current plans are kept')
    .option('--store <dir>', 'artifact store folder (default: the first spec\'s)')
    .option('--keep-runs <n>', 'also keep what the n newest runs of each spec used', '1')
    .option('--dry-run', 'only list what would be removed')
    .action(async (files: string[], o: { store?: string; keepRuns: string; dryRun?: boolean }) => {
      const { ArtifactStore, formatBytes } = await import('../runtime/store.ts');
      const store = new ArtifactStore(await storeFor(io, files[0], o.store));
      const keep = new Set<string>();
      for (const f of files) for (const n of compileOrExit(io, f).plan.nodes) keep.add(n.hash);
      const keepRuns = Number(o.keepRuns);
      if (!Number.isInteger(keepRuns) || keepRuns < 0) {
        io.err(`error: --keep-runs must be a whole number ≥ 0, got '${o.keepRuns}'\n`);
        throw new Exit(EXIT.usage);
      }
      const unlock = lockOrExit(io, store);
      const seen = new Set<string>();
      const entries = [...store.leftovers(), ...store.unreferenced(keep, keepRuns)].filter((e) => !seen.has(e.path) && seen.add(e.path));
      if (!o.dryRun) store.remove(entries);
      unlock();
      printRemoval(io, entries, Boolean(o.dryRun), store.root, formatBytes);
    });

const fmtCmd: Register = (program, io) =>
  program
    .command('fmt')
    .description('rewrite specs in the canonical layout (tools/format.ts); with --check only list the files that would change')
    .argument('[paths...]', '.rlhf files, or folders to search for them (default: .)')
    .option('--check', 'change nothing; list the files that are not formatted and exit 1 if there are any')
    .action(async (paths: string[], o: { check?: boolean }) => {
      const { runFmt } = await import('../tools/format.ts');
      const code = runFmt(paths, o, io);
      if (code) throw new Exit(code);
    });

const lspCmd: Register = (program) =>
  program
    .command('lsp')
    .description('run the language server (Language Server Protocol over stdin/stdout) for editors: diagnostics, hover, completion, definition, rename, symbols, formatting')
    .option('--stdio', 'talk over stdin/stdout (the default; accepted because editors pass it)')
    .action(async () => {
      const { startServer } = await import('../tools/lsp/server.ts');
      startServer();
      // The server ends the process when the editor sends `exit` or closes stdin.
      await new Promise(() => {});
    });

const verifyCmd: Register = (program, io) =>
  program
    .command('verify')
    .description('check a whole artifact store: every stored result against the sha256 of its files recorded at commit, checkpoints, run records (exit 1 when a result or checkpoint is damaged)')
    .argument('[file]', '.rlhf spec whose store to check (default: ./.rlhfc)')
    .option('--store <dir>', 'artifact store folder')
    .action(async (file: string | undefined, o: { store?: string }) => {
      const { verifyStore } = await import('../runtime/verify.ts');
      const { formatBytes } = await import('../runtime/store.ts');
      const root = await storeFor(io, file, o.store);
      if (!existsSync(root)) {
        io.err(`error: no artifact store at ${root}\n`);
        throw new Exit(EXIT.usage);
      }
      const r = verifyStore(root);
      for (const p of r.problems) io.out(`${p.serious ? 'corrupt' : 'damaged'}  ${relative(root, p.path) || '.'}: ${p.problem}\n         → ${p.action}\n`);
      io.out(`${root}: ${r.nodes} stored result${r.nodes === 1 ? '' : 's'} (${formatBytes(r.bytes)} hashed), ${r.checkpoints} checkpoint${r.checkpoints === 1 ? '' : 's'}, ${r.runs} run record${r.runs === 1 ? '' : 's'}: ${r.problems.length ? `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}` : 'all intact'}\n`);
      if (r.problems.some((p) => p.serious)) throw new Exit(EXIT.spec);
    });

export const COMMANDS: Register[] = [checkCmd, compileCmd, runCmd, reportCmd, runsCmd, cleanCmd, gcCmd, verifyCmd, fmtCmd, lspCmd];

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const program = new Command('rlhfc')
    .description('Compile and run declarative RLHF pipelines (.rlhf)')
    .version(COMPILER_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError(true);
  for (const register of COMMANDS) register(program, io);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      if (e.code === 'commander.executeSubCommandAsync') return EXIT.ok;
      return EXIT.usage;
    }
    if (e instanceof UserError) {
      io.err(renderDiagnostics(e.diagnostics, () => undefined));
      return e.diagnostics.some((d) => d.code === 'RLHF4002') ? EXIT.usage : EXIT.spec;
    }
    io.err(`internal error (a bug in rlhfc; please report it):\n${(e as Error).stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}
