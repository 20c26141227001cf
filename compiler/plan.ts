// Plan phase: typed nodes → the Plan IR (core/plan-types.ts): a deterministic topological
// order (dependencies first, then declaration order), locations relative to the main spec's
// folder, and a content hash per node — the cache key of `rlhfc run`.

import { createHash } from 'node:crypto';
import { dirname, relative, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { CheckedNode } from './check/index.ts';
import { diag, withSuggestion, type Diagnostic } from '../core/diagnostics.ts';
import { PLAN_FORMAT, PLAN_VERSION, type Plan, type PlanNode } from '../core/plan-types.ts';
import { floatPaths, type ParamSpec, type Value } from '../core/schema.ts';
import { STAGE_SCHEMAS } from '../runtime/stages/index.ts';
import { DATASET_SOURCES, JUDGE_SOURCES, MODEL_SOURCES, TOKENIZER_SOURCES } from '../runtime/sources/index.ts';

/** The parameter specs of a node's kind: its stage schema or its constructor's. */
function paramSpecsOf(n: { category: string; kind: string }): Record<string, ParamSpec> {
  if (n.category === 'stage') return STAGE_SCHEMAS[n.kind]?.params ?? {};
  const table = { dataset: DATASET_SOURCES, tokenizer: TOKENIZER_SOURCES, model: MODEL_SOURCES, judge: JUDGE_SOURCES }[n.category];
  return table?.[n.kind]?.params ?? {};
}

/** A stage's params without those that cannot change its results (`notInHash`, e.g. checkpoint_every). */
function hashedParams(kind: string, params: Record<string, Value>): Record<string, Value> {
  const specs = STAGE_SCHEMAS[kind]?.params ?? {};
  return Object.fromEntries(Object.entries(params).filter(([k]) => !specs[k]?.notInHash));
}

/** A source's params as hashed: a dataset that is not `unpaired` never reads `fields.completion` or `fields.label`, so they are left out (and caches of earlier jsonl/json datasets stay valid). */
function hashedSourceParams(n: { category: string; datasetKind?: string }, params: Record<string, Value>): Record<string, Value> {
  const f = params['fields'];
  if (n.category !== 'dataset' || n.datasetKind === 'unpaired' || !f || typeof f !== 'object' || Array.isArray(f)) return params;
  const { completion: _c, label: _l, ...rest } = f;
  return { ...params, fields: rest };
}

export const COMPILER_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** JSON with object keys sorted, so equal values always hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export interface PlanOptions {
  mainPath: string;
  seed: number;
  settings: Record<string, Value>;
  /** Keep only this stage and what it needs. */
  stage?: string;
}

export function buildPlan(nodes: CheckedNode[], opts: PlanOptions): { plan?: Plan; diagnostics: Diagnostic[] } {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  // Topological order (Kahn), ties broken by declaration order.
  const indeg = new Map(nodes.map((n) => [n.id, 0]));
  const users = new Map<string, string[]>();
  for (const n of nodes) {
    for (const b of Object.values(n.inputs)) {
      if (!byId.has(b.node)) continue;
      indeg.set(n.id, indeg.get(n.id)! + 1);
      users.set(b.node, [...(users.get(b.node) ?? []), n.id]);
    }
  }
  // `ready` is a binary min-heap on declaration order: n log n, so 10,000 declarations plan quickly.
  const ready: CheckedNode[] = [];
  const push = (n: CheckedNode) => {
    let i = ready.push(n) - 1;
    while (i > 0 && ready[(i - 1) >> 1].order > ready[i].order) {
      [ready[i], ready[(i - 1) >> 1]] = [ready[(i - 1) >> 1], ready[i]];
      i = (i - 1) >> 1;
    }
  };
  const pop = (): CheckedNode => {
    const top = ready[0];
    const last = ready.pop()!;
    if (ready.length) {
      ready[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < ready.length && ready[l].order < ready[m].order) m = l;
        if (r < ready.length && ready[r].order < ready[m].order) m = r;
        if (m === i) break;
        [ready[i], ready[m]] = [ready[m], ready[i]];
        i = m;
      }
    }
    return top;
  };
  for (const n of nodes) if (indeg.get(n.id) === 0) push(n);
  const ordered: CheckedNode[] = [];
  while (ready.length) {
    const n = pop();
    ordered.push(n);
    for (const u of users.get(n.id) ?? []) {
      indeg.set(u, indeg.get(u)! - 1);
      if (indeg.get(u) === 0) push(byId.get(u)!);
    }
  }
  if (ordered.length < nodes.length) {
    // check reports stage cycles with their spans; this is a safety net.
    const stuck = nodes.filter((n) => !ordered.includes(n));
    return { diagnostics: [diag('RLHF4001', `dependency cycle among: ${stuck.map((n) => n.name).join(', ')}`, stuck[0].span)] };
  }

  let keep = ordered;
  if (opts.stage) {
    const target = ordered.find((n) => n.category === 'stage' && n.name === opts.stage);
    if (!target) {
      const names = ordered.filter((n) => n.category === 'stage').map((n) => n.name);
      return { diagnostics: [diag('RLHF4002', withSuggestion(`no stage named '${opts.stage}'`, opts.stage, names), undefined, { notes: [`stages: ${names.join(', ')}`] })] };
    }
    const need = new Set<string>();
    const visit = (id: string) => {
      if (need.has(id)) return;
      need.add(id);
      for (const b of Object.values(byId.get(id)!.inputs)) visit(b.node);
    };
    visit(target.id);
    keep = ordered.filter((n) => need.has(n.id));
  }

  const mainDir = dirname(resolve(opts.mainPath));
  const hashes = new Map<string, string>();
  const planNodes: PlanNode[] = keep.map((n) => {
    const inputs = Object.fromEntries(Object.entries(n.inputs).sort(([a], [b]) => (a < b ? -1 : 1)));
    const hash = createHash('sha256')
      .update(
        canonicalJson({
          category: n.category,
          kind: n.kind,
          params: n.category === 'stage' ? hashedParams(n.kind, n.params) : hashedSourceParams(n, n.params),
          inputs: Object.fromEntries(Object.entries(inputs).map(([k, b]) => [k, `${hashes.get(b.node)}:${b.output}`])),
          content: n.contentHash,
          seed: opts.seed,
          compiler: COMPILER_VERSION,
        }),
      )
      .digest('hex');
    hashes.set(n.id, hash);
    const node: PlanNode = {
      id: n.id,
      category: n.category,
      name: n.name,
      kind: n.kind,
      templates: n.templates,
      loc: { file: relative(mainDir, resolve(n.span.file)).split('\\').join('/'), line: n.span.start.line, col: n.span.start.col },
      params: n.params,
      defaults: n.defaults,
      inputs,
      outputs: n.outputs,
      hash,
    };
    const floats = floatPaths(paramSpecsOf(n));
    if (floats.length) node.floats = floats;
    if (n.datasetKind) node.datasetKind = n.datasetKind;
    if (n.model) node.model = n.model;
    return node;
  });
  const plan: Plan = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    compiler: COMPILER_VERSION,
    spec: relative(process.cwd(), resolve(opts.mainPath)).split('\\').join('/'),
    seed: opts.seed,
    settings: opts.settings,
    nodes: planNodes,
  };
  return { plan, diagnostics: [] };
}
