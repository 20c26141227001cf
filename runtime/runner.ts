// `rlhfc run`: execute a plan's nodes in dependency order, reusing finished nodes from the
// content-addressed store (runtime/store.ts), and report what happened.
//
// Which nodes execute: the requested stages (all, or `--stage` and its dependencies) that are not
// finished in the store, plus whatever those need. A finished stage is not re-run and its inputs
// are not even loaded. `--force` drops a stage's stored result (or all stages') first.
//
// Faults: a stage's outputs go to a temp folder that is renamed into the store only when the stage
// returns, so a failure or a kill never leaves a half-written result that looks finished, and never
// touches the results of other stages. Long stages save resumable checkpoints (runtime/train/
// resume.ts) under <store>/checkpoints/<hash>; the next run continues from there.
// Every run is recorded under <store>/runs/<id>/ (run.json, plan.json, log.txt, metrics.jsonl).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Plan, PlanNode } from '../core/plan-types.ts';
import { UserError, diag, didYouMean } from '../core/diagnostics.ts';
import { formatTable } from '../core/table.ts';
import { ArtifactStore, StoreBusy, nodeRecord, specKey, storeDirOf, type RunRecord } from './store.ts';

export { storeDirOf };
import { Reporter } from './reporter.ts';
import { healthOf, type Finding } from './health.ts';
import { materializeSource, loadStageOutputs } from './nodes.ts';
import type { Artifact, StageOutcome, StageRun } from './stage-context.ts';
import { Interrupted, letSignalsIn } from './train/resume.ts';

export interface RunOptions {
  /** Path of the main spec (for resolving relative paths and the default store). */
  specPath: string;
  /** Only this stage and what it needs. */
  stage?: string;
  /** Re-run these stages even when finished (true: every stage). */
  force?: true | string[];
  /** Store folder (default: the plan's `artifacts` setting, relative to the spec). */
  storeDir?: string;
  /** Where progress and log lines go (default: stderr). */
  write?: (line: string) => void;
  /** Progress bars (default: stderr is a TTY). */
  tty?: boolean;
  signal?: AbortSignal;
  /** Recorded in the run's run.json. */
  backend?: string;
  argv?: string[];
}

export interface StageReport {
  id: string;
  name: string;
  kind: string;
  hash?: string;
  status: 'cached' | 'ran' | 'resumed' | 'failed' | 'interrupted' | 'skipped';
  seconds: number;
  /** Peak resident memory while the stage ran, MB (see `stagePeakRss`); absent for cached and skipped stages. */
  peakRssMB?: number;
  headline: string;
  dir?: string;
  /** What the training-health monitor found while the stage ran (runtime/health.ts). */
  health?: Finding[];
}

export interface RunResult {
  stages: StageReport[];
  storeDir: string;
  runId: string;
}

/** An error that ended a run, with what had happened until then. */
export type RunError = Error & { reports?: StageReport[]; runId?: string; storeDir?: string };

/** Nodes the requested stages need, in plan order. */
function closure(plan: Plan, roots: PlanNode[]): Set<string> {
  const byId = new Map(plan.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const b of Object.values(byId.get(id)!.inputs)) visit(b.node);
  };
  roots.forEach((r) => visit(r.id));
  return seen;
}

async function loadStageRun(kind: string): Promise<StageRun> {
  const mod = (await import(`./stages/${kind}.ts`)) as { run?: StageRun };
  if (!mod.run) throw new Error(`stage kind '${kind}' has no run() implementation yet`);
  return mod.run;
}

const STORE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** A filesystem error writing the store, as a user error naming the stage and what to do. */
export function storeError(e: unknown, stage: string, storeDir: string): UserError | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (!code || !STORE_ERRORS.has(code)) return undefined;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : code === 'EROFS' ? 'the file system is read-only' : 'permission denied';
  return new UserError([
    diag('RLHF9005', `stage '${stage}': cannot write to the artifact store ${storeDir}: ${why} (${code}: ${(e as Error).message})`, undefined, {
      notes: ['finished stages are intact; fix the cause and run again (the stage resumes from its last checkpoint, if it saved one)'],
    }),
  ]);
}

/** An input file that vanished or cannot be read since compile time, as a user error. */
function readError(e: unknown, what: string): UserError | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!err?.code || !['ENOENT', 'EACCES', 'EISDIR', 'EPERM'].includes(err.code) || err.syscall === 'rename' || err.syscall === 'mkdir') return undefined;
  if (err.syscall && !['open', 'read', 'scandir', 'stat', 'lstat'].includes(err.syscall)) return undefined;
  return new UserError([diag('RLHF9001', `${what}: cannot read ${err.path ?? 'an input file'} (${err.code}: ${err.message})`)]);
}

export async function runPlan(plan: Plan, opts: RunOptions): Promise<RunResult> {
  const storeDir = storeDirOf(plan, opts.specPath, opts.storeDir);
  const store = new ArtifactStore(storeDir);

  const stages = plan.nodes.filter((n) => n.category === 'stage');
  const wanted = opts.stage ? stages.filter((s) => s.name === opts.stage) : stages;
  const names = stages.map((s) => s.name);
  for (const name of [...(opts.stage ? [opts.stage] : []), ...(Array.isArray(opts.force) ? opts.force : [])]) {
    if (names.includes(name)) continue;
    const near = didYouMean(name, names);
    throw new UserError([diag('RLHF4002', `no stage named '${name}' in the plan${near ? `; did you mean '${near}'?` : ` (stages: ${names.join(', ')})`}`)]);
  }
  const wantedIds = closure(plan, wanted);

  let unlock: () => void;
  try {
    unlock = store.lock();
  } catch (e) {
    if (e instanceof StoreBusy) throw new UserError([diag('RLHF9005', e.message)]);
    throw storeError(e, '(start of run)', storeDir) ?? e;
  }
  try {
    return await runLocked(plan, opts, store, wanted, wantedIds, stages);
  } finally {
    unlock();
  }
}

async function runLocked(plan: Plan, opts: RunOptions, store: ArtifactStore, wanted: PlanNode[], wantedIds: Set<string>, stages: PlanNode[]): Promise<RunResult> {
  const specDir = dirname(resolve(opts.specPath));
  const storeDir = store.root;
  const say = opts.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const signal = opts.signal ?? new AbortController().signal;
  let run: RunRecord;
  try {
    run = store.beginRun({ spec: specKey(opts.specPath, storeDir), backend: opts.backend, seed: plan.seed, argv: opts.argv ?? [] }, plan);
  } catch (e) {
    throw storeError(e, '(start of run)', storeDir) ?? e;
  }
  const write = (line: string) => {
    say(line);
    store.runLog(run.id, line);
  };
  const runMetrics = `${store.runDir(run.id)}/metrics.jsonl`;

  if (opts.force) {
    for (const s of stages) {
      if (wantedIds.has(s.id) && (opts.force === true || opts.force.includes(s.name))) store.invalidate(s.hash);
    }
  }

  // A finished result whose files no longer match their recorded sha256 (or whose record is damaged)
  // is never reused: it is set aside and the stage reruns, with its inputs verified in turn.
  const corrupt = (n: PlanNode) => (problem: string, aside: string) =>
    write(`${n.name}: corrupt (${problem}); set aside as ${aside}; it reruns`);

  // Which nodes must be materialised: walk consumers first; a finished stage needs nothing.
  const byId = new Map(plan.nodes.map((n) => [n.id, n]));
  const needed = new Set<string>();
  const need = (id: string) => {
    if (needed.has(id)) return;
    needed.add(id);
    const n = byId.get(id)!;
    if (n.category === 'stage' && store.reusable(n.hash, corrupt(n))) return;
    for (const b of Object.values(n.inputs)) need(b.node);
  };
  for (const s of wanted) need(s.id);

  const artifacts = new Map<string, Record<string, Artifact>>();
  const reports: StageReport[] = [];
  const finish = (status: RunRecord['status'], error?: string) => {
    run.status = status;
    run.ended = new Date().toISOString();
    run.stages = reports.map(({ id, name, kind, hash, status: st, seconds, peakRssMB, headline, health: h }) => ({ id, name, kind, hash, status: st, seconds, ...(peakRssMB !== undefined ? { peakRssMB } : {}), headline, ...(h ? { health: h } : {}) }));
    if (error) run.error = error;
    try {
      store.saveRun(run);
    } catch {
      // the run record is a convenience; the stage results are what matter
    }
  };
  const fail = (e: unknown, status: RunRecord['status']): never => {
    finish(status, (e as Error).message);
    throw Object.assign(e as Error, { reports, runId: run.id, storeDir });
  };

  for (const node of plan.nodes) {
    if (!needed.has(node.id)) {
      if (node.category === 'stage' && wantedIds.has(node.id)) {
        reports.push({ id: node.id, name: node.name, kind: node.kind, hash: node.hash, status: 'skipped', seconds: 0, headline: '' });
      }
      continue;
    }
    if (node.category !== 'stage') {
      try {
        artifacts.set(node.id, await materializeSource(node, { plan, specDir, store, write, inputs: inputsOf(node, artifacts) }));
      } catch (e) {
        fail(readError(e, `${node.category} ${node.name}`) ?? storeError(e, node.name, storeDir) ?? e, 'failed');
      }
      continue;
    }
    if (store.reusable(node.hash, corrupt(node))) {
      const rec = store.record(node.hash)!;
      artifacts.set(node.id, await loadStageOutputs(node, store.nodeDir(node.hash)));
      reports.push({
        id: node.id,
        name: node.name,
        kind: node.kind,
        hash: node.hash,
        status: 'cached',
        seconds: rec.seconds,
        headline: String(rec.metrics['headline'] ?? ''),
        dir: store.nodeDir(node.hash),
      });
      write(`${node.name}: cached (${node.hash.slice(0, 12)})`);
      continue;
    }
    await letSignalsIn(); // a Ctrl-C during the last stage is seen before the next one starts
    if (signal.aborted) break;
    const started = performance.now();
    const peak = stagePeakRss();
    const resuming = store.checkpointInfo(node.hash);
    let tmp: string;
    try {
      tmp = store.beginNode(node.hash);
    } catch (e) {
      fail(storeError(e, node.name, storeDir) ?? e, 'failed');
    }
    const reporter = new Reporter({ dir: tmp!, label: node.name, tty: opts.tty, write, runMetricsPath: runMetrics, health: healthOf(node.params) });
    const health = () => (reporter.findings().length ? { health: reporter.findings() } : {});
    // whether the checkpoint is usable is the stage's to find out (a damaged one is set aside with a warning)
    write(`${node.name}: running ${node.kind}${resuming ? `, checkpoint found at step ${resuming.step}` : ''} (${node.hash.slice(0, 12)})`);
    let outcome: StageOutcome;
    try {
      const stageRun = await loadStageRun(node.kind);
      outcome = await stageRun({
        plan,
        node,
        params: node.params,
        inputs: inputsOf(node, artifacts),
        outDir: tmp!,
        specDir,
        seed: plan.seed,
        reporter,
        signal,
        checkpointDir: store.checkpointDir(node.hash),
      });
    } catch (e) {
      reporter.stop();
      store.abandon(tmp!);
      const seconds = (performance.now() - started) / 1000;
      if (e instanceof Interrupted) {
        reports.push({ id: node.id, name: node.name, kind: node.kind, hash: node.hash, status: 'interrupted', seconds, peakRssMB: peak(), headline: `stopped at step ${e.step}/${e.total}`, ...health() });
        write(`${node.name}: interrupted at step ${e.step}/${e.total}${e.checkpoint ? '; checkpoint saved' : ' (no checkpoint: it restarts from step 0)'}`);
        fail(e, 'interrupted');
      }
      reports.push({ id: node.id, name: node.name, kind: node.kind, hash: node.hash, status: 'failed', seconds, peakRssMB: peak(), headline: '', ...health() });
      const diskProblem = storeError(e, node.name, storeDir);
      if (diskProblem) fail(diskProblem, 'failed');
      if (e instanceof UserError) for (const d of e.diagnostics) d.message = `stage '${node.name}': ${d.message}`;
      fail(e, 'failed');
    }
    reporter.stop();
    const seconds = (performance.now() - started) / 1000;
    const peakRssMB = peak();
    let dir: string;
    try {
      dir = store.commitNode(tmp!, nodeRecord(plan, node, storeDir, { ...outcome!.metrics, headline: outcome!.headline }, seconds));
    } catch (e) {
      store.abandon(tmp!);
      reports.push({ id: node.id, name: node.name, kind: node.kind, hash: node.hash, status: 'failed', seconds, peakRssMB, headline: '' });
      fail(storeError(e, node.name, storeDir) ?? e, 'failed');
    }
    artifacts.set(node.id, await loadStageOutputs(node, dir!));
    reports.push({ id: node.id, name: node.name, kind: node.kind, hash: node.hash, status: reporter.resumedFrom !== undefined ? 'resumed' : 'ran', seconds, peakRssMB, headline: outcome!.headline, dir: dir!, ...health() });
    write(`${node.name}: done in ${seconds.toFixed(1)} s, peak RSS ${peakRssMB} MB — ${outcome!.headline}`);
  }
  finish(signal.aborted ? 'interrupted' : 'ok');
  return { stages: reports, storeDir, runId: run.id };
}

function inputsOf(node: PlanNode, artifacts: Map<string, Record<string, Artifact>>): Record<string, Artifact> {
  const out: Record<string, Artifact> = {};
  for (const [param, b] of Object.entries(node.inputs)) {
    const a = artifacts.get(b.node)?.[b.output];
    if (a) out[param] = a;
  }
  return out;
}

/**
 * Peak resident memory of this process while a stage runs: started when called, read (MB) by the
 * function it returns. On Linux the kernel's high-water mark (VmHWM) is reset at the start
 * (/proc/self/clear_refs), so the number is the stage's own peak; elsewhere it is the process's peak
 * since it started (getrusage), which bounds the stage's from above.
 */
export function stagePeakRss(): () => number {
  let reset = false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    reset = true;
  } catch {
    // not Linux, or not allowed: the process-wide peak below
  }
  return () => {
    if (reset) {
      try {
        const kb = /VmHWM:\s*(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
        if (kb) return Math.round(Number(kb) / 1024);
      } catch {
        // fall through
      }
    }
    return Math.round(process.resourceUsage().maxRSS / 1024);
  };
}

/** The final table: stage, kind, status, time, peak resident memory, key metric. */
export function formatRunTable(r: { stages: StageReport[] }): string {
  const rows = r.stages.map((s) => [s.name, s.kind, s.status, `${s.seconds.toFixed(1)} s`, s.peakRssMB !== undefined ? `${s.peakRssMB} MB` : '', s.headline]);
  const head = ['stage', 'kind', 'status', 'time', 'peak RSS', 'result'];
  return formatTable(head, rows);
}
