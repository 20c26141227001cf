// What `rlhfc run` would do with each node of a plan, read from the artifact store without running
// anything (and without loading TensorFlow.js): `rlhfc compile` prints it like a terraform plan.
//
//   cached  the node's hash is finished in the store: it will be reused
//   resume  unfinished, with a checkpoint: it continues from the checkpoint's step
//   stale   this spec ran the node before with a different hash: it reruns, and the reason says
//           which parameter, input, seed or file changed
//   corrupt finished, but its files no longer match the sha256 recorded at commit (or its record is
//           damaged): `rlhfc run` sets it aside and reruns it
//   run     never ran: it runs

import type { Plan, PlanNode } from '../core/plan-types.ts';
import type { Value } from '../core/schema.ts';
import { ArtifactStore, specKey, type NodeRecord } from './store.ts';

export type NodeState = 'cached' | 'corrupt' | 'resume' | 'stale' | 'run';

export interface NodeStatus {
  state: NodeState;
  /** One line: why (for stale), what was saved (cached, resume). */
  reason: string;
}

/** Nodes whose results live in the store: stages and trained tokenizers. */
export function isStored(n: PlanNode): boolean {
  return n.category === 'stage' || (n.category === 'tokenizer' && n.kind !== 'gpt2');
}

function flatten(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, v === null ? '—' : typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? JSON.stringify(v) : String(v as Value));
  return out;
}

/** `optimizer.lr 0.001 → 0.0003` for each parameter that differs. */
export function paramChanges(before: unknown, after: unknown): string[] {
  const a = flatten(before);
  const b = flatten(after);
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`${k} ${a.get(k) ?? '(unset)'} → ${b.get(k) ?? '(unset)'}`);
  }
  return out;
}

function when(iso: string | undefined): string {
  return iso ? iso.slice(0, 16).replace('T', ' ') : 'earlier';
}

export function planStatus(plan: Plan, storeDir: string): Map<string, NodeStatus> {
  const store = new ArtifactStore(storeDir);
  const spec = specKey(plan.spec, storeDir);
  // The latest finished record of each node id of this spec.
  const previous = new Map<string, NodeRecord>();
  for (const r of store.records()) {
    if (r.spec !== spec) continue;
    const p = previous.get(r.id);
    if (!p || (r.finishedAt ?? '') > (p.finishedAt ?? '')) previous.set(r.id, r);
  }
  const byId = new Map(plan.nodes.map((n) => [n.id, n]));
  const out = new Map<string, NodeStatus>();
  for (const n of plan.nodes) {
    if (!isStored(n)) continue;
    const check = store.isFinished(n.hash) ? store.verifyNode(n.hash) : undefined;
    if (check && !check.ok) {
      out.set(n.id, { state: 'corrupt', reason: `${check.problem}; \`rlhfc run\` sets it aside and reruns it` });
      continue;
    }
    const rec = check?.record;
    if (rec) {
      const headline = rec.metrics['headline'] ? `: ${String(rec.metrics['headline'])}` : '';
      out.set(n.id, { state: 'cached', reason: `finished ${when(rec.finishedAt)} in ${rec.seconds.toFixed(1)} s${headline}` });
      continue;
    }
    const ck = store.checkpointInfo(n.hash);
    if (ck) {
      out.set(n.id, { state: 'resume', reason: `checkpoint at step ${ck.step} (saved ${when(ck.savedAt)})` });
      continue;
    }
    const prev = previous.get(n.id);
    if (!prev) {
      out.set(n.id, { state: 'run', reason: 'not run before' });
      continue;
    }
    const reasons: string[] = [];
    if (prev.kind !== n.kind) reasons.push(`kind ${prev.kind} → ${n.kind}`);
    const changes = paramChanges(prev.params, n.params);
    if (changes.length) reasons.push(changes.length > 3 ? `${changes.slice(0, 3).join(', ')} and ${changes.length - 3} more` : changes.join(', '));
    for (const [param, b] of Object.entries(n.inputs)) {
      const up = byId.get(b.node)!;
      if (prev.inputs && prev.inputs[param] === up.hash) continue;
      const upState = out.get(up.id)?.state;
      const what = up.category === 'stage' ? `stage ${up.name}` : `${up.category} ${up.name}`;
      reasons.push(upState && upState !== 'cached' ? `input ${param}: ${what} reruns` : `input ${param} changed (${what})`);
    }
    if (prev.seed !== undefined && prev.seed !== plan.seed) reasons.push(`seed ${prev.seed} → ${plan.seed}`);
    if (prev.compiler && prev.compiler !== plan.compiler) reasons.push(`rlhfc ${prev.compiler} → ${plan.compiler}`);
    if (!reasons.length) reasons.push('a file it reads changed');
    out.set(n.id, { state: 'stale', reason: reasons.join('; ') });
  }
  return out;
}

/** "2 cached, 1 stale, 1 to run" over the plan's stages. */
export function statusSummary(plan: Plan, status: Map<string, NodeStatus>): string {
  const counts: Record<NodeState, number> = { cached: 0, corrupt: 0, resume: 0, stale: 0, run: 0 };
  for (const n of plan.nodes) if (n.category === 'stage') counts[status.get(n.id)?.state ?? 'run']++;
  const parts = [`${counts.cached} cached`, `${counts.stale} stale`, `${counts.run} to run`];
  if (counts.resume) parts.push(`${counts.resume} to resume`);
  if (counts.corrupt) parts.push(`${counts.corrupt} corrupt (rerun)`);
  const work = counts.stale + counts.run + counts.resume + counts.corrupt;
  return `status: ${parts.join(', ')} — \`rlhfc run\` ${work === 0 ? 'has nothing to do' : `would run ${work} stage${work === 1 ? '' : 's'}`}`;
}
