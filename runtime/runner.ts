// `rlhfc run`: execute a plan's nodes in dependency order, reusing finished nodes from the
// content-addressed store (runtime/store.ts), and report what happened.
//
// Which nodes execute: the requested stages (all, or `--stage` and its dependencies) that are not
// finished in the store, plus whatever those need. A finished stage is not re-run and its inputs
// are not even loaded. `--force` drops a stage's stored result (or all stages') first.

import { dirname, resolve } from 'node:path';
import type { Plan, PlanNode } from '../compiler/plan-types.ts';
import { UserError, diag } from '../compiler/diagnostics.ts';
import { ArtifactStore } from './store.ts';
import { Reporter } from './reporter.ts';
import { materializeSource, loadStageOutputs } from './nodes.ts';
import type { Artifact, StageOutcome, StageRun } from './stages/context.ts';

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
}

export interface StageReport {
  id: string;
  name: string;
  kind: string;
  status: 'cached' | 'ran' | 'failed' | 'skipped';
  seconds: number;
  headline: string;
  dir?: string;
}

export interface RunResult {
  stages: StageReport[];
  storeDir: string;
}

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

export async function runPlan(plan: Plan, opts: RunOptions): Promise<RunResult> {
  const specDir = dirname(resolve(opts.specPath));
  const storeDir = resolve(specDir, opts.storeDir ?? String(plan.settings['artifacts'] ?? '.rlhf'));
  const store = new ArtifactStore(storeDir);
  const write = opts.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const signal = opts.signal ?? new AbortController().signal;

  const stages = plan.nodes.filter((n) => n.category === 'stage');
  const wanted = opts.stage ? stages.filter((s) => s.name === opts.stage) : stages;
  if (opts.stage && wanted.length === 0) throw new UserError([diag('RLHF4002', `no stage named '${opts.stage}' in the plan`)]);
  const wantedIds = closure(plan, wanted);

  if (opts.force) {
    for (const s of stages) {
      if (wantedIds.has(s.id) && (opts.force === true || opts.force.includes(s.name))) store.invalidate(s.hash);
    }
  }

  // Which nodes must be materialised: walk consumers first; a finished stage needs nothing.
  const byId = new Map(plan.nodes.map((n) => [n.id, n]));
  const needed = new Set<string>();
  const need = (id: string) => {
    if (needed.has(id)) return;
    needed.add(id);
    const n = byId.get(id)!;
    if (n.category === 'stage' && store.isFinished(n.hash)) return;
    for (const b of Object.values(n.inputs)) need(b.node);
  };
  for (const s of wanted) need(s.id);

  const artifacts = new Map<string, Record<string, Artifact>>();
  const reports: StageReport[] = [];
  for (const node of plan.nodes) {
    if (!needed.has(node.id)) {
      if (node.category === 'stage' && wantedIds.has(node.id)) {
        reports.push({ id: node.id, name: node.name, kind: node.kind, status: 'skipped', seconds: 0, headline: '' });
      }
      continue;
    }
    if (node.category !== 'stage') {
      artifacts.set(node.id, await materializeSource(node, { plan, specDir, store, write, inputs: inputsOf(node, artifacts) }));
      continue;
    }
    if (store.isFinished(node.hash)) {
      const rec = store.record(node.hash)!;
      artifacts.set(node.id, await loadStageOutputs(node, store.nodeDir(node.hash)));
      reports.push({
        id: node.id,
        name: node.name,
        kind: node.kind,
        status: 'cached',
        seconds: rec.seconds,
        headline: String(rec.metrics['headline'] ?? ''),
        dir: store.nodeDir(node.hash),
      });
      write(`${node.name}: cached (${node.hash.slice(0, 12)})`);
      continue;
    }
    if (signal.aborted) break;
    const started = performance.now();
    const tmp = store.beginNode(node.hash);
    const reporter = new Reporter({ dir: tmp, label: node.name, tty: opts.tty, write });
    write(`${node.name}: running ${node.kind} (${node.hash.slice(0, 12)})`);
    let outcome: StageOutcome;
    try {
      const run = await loadStageRun(node.kind);
      outcome = await run({
        plan,
        node,
        params: node.params,
        inputs: inputsOf(node, artifacts),
        outDir: tmp,
        specDir,
        seed: plan.seed,
        reporter,
        signal,
      });
    } catch (e) {
      reporter.stop();
      reports.push({ id: node.id, name: node.name, kind: node.kind, status: 'failed', seconds: (performance.now() - started) / 1000, headline: '' });
      if (e instanceof UserError) {
        for (const d of e.diagnostics) d.message = `stage '${node.name}': ${d.message}`;
      }
      throw Object.assign(e as Error, { reports });
    }
    reporter.stop();
    const seconds = (performance.now() - started) / 1000;
    const dir = store.commitNode(tmp, {
      id: node.id,
      kind: node.kind,
      hash: node.hash,
      params: node.params,
      metrics: { ...outcome.metrics, headline: outcome.headline },
      seconds,
    });
    artifacts.set(node.id, await loadStageOutputs(node, dir));
    reports.push({ id: node.id, name: node.name, kind: node.kind, status: 'ran', seconds, headline: outcome.headline, dir });
    write(`${node.name}: done in ${seconds.toFixed(1)} s — ${outcome.headline}`);
  }
  return { stages: reports, storeDir };
}

function inputsOf(node: PlanNode, artifacts: Map<string, Record<string, Artifact>>): Record<string, Artifact> {
  const out: Record<string, Artifact> = {};
  for (const [param, b] of Object.entries(node.inputs)) {
    const a = artifacts.get(b.node)?.[b.output];
    if (a) out[param] = a;
  }
  return out;
}

/** The final table: stage, kind, status, time, key metric. */
export function formatRunTable(r: RunResult): string {
  const rows = r.stages.map((s) => [s.name, s.kind, s.status, `${s.seconds.toFixed(1)} s`, s.headline]);
  const head = ['stage', 'kind', 'status', 'time', 'result'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
