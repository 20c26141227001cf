// Rendering a plan: text for people (like a terraform plan), JSON for tools, dot for Graphviz.

import type { Plan, PlanNode } from '../core/plan-types.ts';
import type { Value } from '../core/schema.ts';

function fmt(v: Value): string {
  if (v === null) return '—';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(fmt).join(', ')}]`;
  if (typeof v === 'object') return '{…}';
  return String(v);
}

/** Flatten params to dotted paths; an absent optional block shows as `—` (e.g. no lora). */
function flatten(params: Record<string, Value>, prefix = ''): [string, Value][] {
  const out: [string, Value][] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...flatten(v as Record<string, Value>, `${prefix}${k}.`));
    else out.push([prefix + k, v]);
  }
  return out;
}

function source(n: PlanNode): string {
  const args = ['name', 'path', 'ref', 'target', 'list'].filter((k) => k in n.params).map((k) => fmt(n.params[k]));
  const dataArg = n.inputs['data'] ? n.inputs['data'].node.split(':')[1] : undefined;
  return `${n.kind}(${[...args, ...(dataArg ? [dataArg] : [])].join(', ')})`;
}

function describeInput(plan: Plan, nodeId: string, output: string): string {
  const n = plan.nodes.find((x) => x.id === nodeId);
  if (!n) return nodeId;
  return n.category === 'stage' ? `${n.name}.${output}` : n.category === 'judge' ? source(n) : `${n.category} ${n.name}`;
}

/** What `rlhfc run` would do with a node (from runtime/status.ts; absent when no store was read). */
export interface RenderStatus {
  nodes: Map<string, { state: string; reason: string }>;
  summary: string;
}

export function renderText(plan: Plan, status?: RenderStatus): string {
  const out: string[] = [];
  out.push(`plan for ${plan.spec} (seed ${plan.seed}, rlhfc ${plan.compiler})`, '');
  const sources = plan.nodes.filter((n) => n.category !== 'stage' && n.category !== 'judge');
  if (sources.length) {
    out.push('sources');
    const w = Math.max(...sources.map((n) => `${n.category} ${n.name}`.length));
    for (const n of sources) {
      const what = n.category === 'dataset' ? ` [${n.datasetKind}]` : '';
      const ps = flatten(n.params)
        .filter(([k]) => !['name', 'path'].includes(k) && !n.defaults.includes(k))
        .map(([k, v]) => `${k}=${fmt(v)}`);
      const st = status?.nodes.get(n.id);
      out.push(`  ${`${n.category} ${n.name}`.padEnd(w)}  ${source(n)}${what}${ps.length ? `  ${ps.join(' ')}` : ''}  #${n.hash.slice(0, 12)}${st ? `  (${st.state})` : ''}`.trimEnd());
    }
    out.push('');
  }
  const stages = plan.nodes.filter((n) => n.category === 'stage');
  stages.forEach((n, i) => {
    const tmpl = n.templates.length ? ` via ${n.templates.join(' → ')}` : '';
    const st = status?.nodes.get(n.id);
    out.push(`stage ${i + 1}/${stages.length}  ${n.name}: ${n.kind}${tmpl}   ${n.loc.file}:${n.loc.line}   #${n.hash.slice(0, 12)}${st ? `   ${st.state}` : ''}`);
    if (st) out.push(`  ${st.state === 'run' ? 'run' : st.state}: ${st.reason}`);
    const inputs = Object.entries(n.inputs);
    if (inputs.length) {
      out.push('  inputs');
      const w = Math.max(...inputs.map(([k]) => k.length));
      for (const [k, b] of inputs) out.push(`    ${k.padEnd(w)}  ${b.type.padEnd(12)} ← ${describeInput(plan, b.node, b.output)}`);
    }
    const ps = flatten(n.params);
    if (ps.length) {
      out.push('  params');
      const w = Math.max(...ps.map(([k]) => k.length));
      for (const [k, v] of ps) out.push(`    ${k.padEnd(w)}  ${fmt(v)}${n.defaults.includes(k) ? '  (default)' : ''}`);
    }
    out.push('  outputs');
    for (const [k, t] of Object.entries(n.outputs)) out.push(`    ${n.name}.${k}  ${t}`);
    out.push('');
  });
  const count = (c: string) => plan.nodes.filter((n) => n.category === c).length;
  const kinds = new Map<string, number>();
  for (const s of stages) kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
  const kindList = [...kinds].map(([k, c]) => `${c} ${k}`).join(', ');
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  out.push(
    `${plural(stages.length, 'stage')}${kindList ? ` (${kindList})` : ''}, ${plural(count('dataset'), 'dataset')}, ${plural(count('tokenizer'), 'tokenizer')}, ${plural(count('model'), 'model')}, ${plural(count('judge'), 'judge')}`,
  );
  if (status) out.push(status.summary);
  return out.join('\n') + '\n';
}

export function renderJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + '\n';
}

export function renderDot(plan: Plan): string {
  const q = (s: string) => JSON.stringify(s);
  const out = ['digraph plan {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=11];'];
  for (const n of plan.nodes) {
    const label = n.category === 'stage' ? `${n.name}\\n${n.kind}` : `${n.name}\\n${n.category} ${n.kind}`;
    const shape = n.category === 'stage' ? 'box, style="rounded,filled", fillcolor="#dbeafe"' : n.category === 'dataset' ? 'cylinder' : 'ellipse';
    out.push(`  ${q(n.id)} [label="${label}", shape=${shape}];`);
  }
  for (const n of plan.nodes) for (const [param, b] of Object.entries(n.inputs)) out.push(`  ${q(b.node)} -> ${q(n.id)} [label=${q(param)}];`);
  out.push('}');
  return out.join('\n') + '\n';
}
