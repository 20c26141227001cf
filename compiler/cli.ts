// The `rlhfc` command line. Exit codes: 0 success, 1 errors in the spec (or a stage failed on
// bad data), 2 usage errors, 3 internal errors (a bug: reported with a stack trace), 130 interrupted.

import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compileFile, type CompileResult } from './compile.ts';
import { renderDiagnostics, UserError, type Diagnostic } from './diagnostics.ts';
import { renderDot, renderJson, renderText } from './render.ts';
import { COMPILER_VERSION } from './plan.ts';

export const EXIT = { ok: 0, spec: 1, usage: 2, internal: 3, interrupted: 130 } as const;

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

function compileOrExit(io: Io, file: string, stage?: string): CompileResult & { plan: NonNullable<CompileResult['plan']> } {
  const r = compileFile(file, { stage });
  report(io, r);
  if (!r.plan || r.diagnostics.some((d) => d.severity === 'error')) throw new Exit(r.diagnostics.some((d) => d.code === 'RLHF9001' || d.code === 'RLHF4002') ? EXIT.usage : EXIT.spec);
  return r as CompileResult & { plan: NonNullable<CompileResult['plan']> };
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
    .action(async (file: string, o: { format: string; stage?: string }) => {
      const r = compileOrExit(io, file, o.stage);
      if (o.format === 'json') io.out(renderJson(r.plan));
      else if (o.format === 'dot') io.out(renderDot(r.plan));
      else io.out(renderText(r.plan));
    });

const runCmd: Register = (program, io) =>
  program
    .command('run')
    .description('run the plan: stages in dependency order, reusing finished ones from the artifact store')
    .argument('<file>', '.rlhf spec')
    .option('-s, --stage <name>', 'only this stage and what it needs')
    .option('--force [names...]', 're-run these stages (all when no name is given) even if finished')
    .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default(process.env.RLHFC_BACKEND ?? 'auto'))
    .option('--store <dir>', 'artifact store folder (default: the spec\'s `artifacts` setting, .rlhf)')
    .action(async (file: string, o: { stage?: string; force?: true | string[]; backend: string; store?: string }) => {
      const r = compileOrExit(io, file, o.stage);
      const { initBackend } = await import('../runtime/backend.ts');
      const b = await initBackend(o.backend as 'auto');
      io.err(`${b.banner}\n`);
      const { runPlan, formatRunTable } = await import('../runtime/runner.ts');
      const { buildReport } = await import('../runtime/report.ts');
      const ac = new AbortController();
      const onSig = () => {
        if (ac.signal.aborted) process.exit(EXIT.interrupted);
        io.err('\ninterrupted: stopping at the next step boundary (Ctrl-C again to quit at once)\n');
        ac.abort();
      };
      process.on('SIGINT', onSig);
      process.on('SIGTERM', onSig);
      try {
        const res = await runPlan(r.plan, { specPath: file, stage: o.stage, force: o.force, storeDir: o.store, signal: ac.signal, write: (l) => io.err(l + '\n') });
        io.out(`\n${formatRunTable(res)}\n`);
        const reportPath = join(res.storeDir, 'report.html');
        mkdirSync(dirname(reportPath), { recursive: true });
        writeFileSync(reportPath, buildReport(r.plan, res.storeDir));
        io.out(`\nreport: ${reportPath}\n`);
        if (ac.signal.aborted) {
          io.err(`interrupted; finished stages are kept. Resume with: rlhfc run ${file}\n`);
          throw new Exit(EXIT.interrupted);
        }
      } finally {
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
    });

const reportCmd: Register = (program, io) =>
  program
    .command('report')
    .description('write the HTML report of a spec\'s runs (plan graph, curves, samples)')
    .argument('<file>', '.rlhf spec')
    .option('-o, --out <path>', 'where to write the page (default: <store>/report.html)')
    .option('--store <dir>', 'artifact store folder')
    .action(async (file: string, o: { out?: string; store?: string }) => {
      const r = compileOrExit(io, file);
      const { buildReport } = await import('../runtime/report.ts');
      const storeDir = resolve(dirname(resolve(file)), o.store ?? String(r.plan.settings['artifacts'] ?? '.rlhf'));
      const out = o.out ?? join(storeDir, 'report.html');
      mkdirSync(dirname(resolve(out)), { recursive: true });
      writeFileSync(out, buildReport(r.plan, storeDir));
      io.out(`report: ${out}\n`);
    });

export const COMMANDS: Register[] = [checkCmd, compileCmd, runCmd, reportCmd];

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
      return EXIT.spec;
    }
    io.err(`internal error (a bug in rlhfc; please report it):\n${(e as Error).stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}
