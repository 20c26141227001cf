// A stage declaration against its stage kind's schema: its parameter tree (inputs bound, so the
// stages it reads are checked first), the facts its outputs carry, capped length defaults, and the
// kind's cross-field rules.

import { STAGE_SCHEMAS } from '../../runtime/stages/index.ts';
import type { ResolvedStage } from '../resolve.ts';
import { emptyResult, type CheckContext, type CheckedNode } from './context.ts';
import { capDefaults, carryFacts, inputFacts, reportRules } from './rules.ts';
import { type LoraParams, loraRules, resolveLoraDefaults } from '../../runtime/train/params.ts';
import { checkTree } from './tree.ts';

export function checkStage(ctx: CheckContext, s: ResolvedStage): CheckedNode | undefined {
  const { ds } = ctx;
  const name = s.decl.name.name;
  if (ctx.stageDone.has(name)) return ctx.stageDone.get(name);
  ctx.inProgress.push(name);
  const schema = STAGE_SCHEMAS[s.kind];
  const out = emptyResult();
  const what = `stage '${name}' (${s.kind})`;
  const before = ds.length;
  const params = checkTree(ctx, schema.params, s.tree, '', out, name, s.decl.name.span, s.decl.span.file, what);
  ctx.inProgress.pop();
  const node: CheckedNode = {
    id: `stage:${name}`,
    category: 'stage',
    name,
    kind: s.kind,
    templates: s.templates,
    span: s.decl.name.span,
    params,
    defaults: out.defaults,
    inputs: out.inputs,
    outputs: { ...schema.outputs },
    order: ctx.order++,
  };
  const facts = inputFacts(out);
  carryFacts(node, schema, facts);
  capDefaults(params, out.defaults, schema, facts);
  resolveLoraDefaults(params as { lora?: LoraParams | null }, out.defaults, { inputs: facts });
  if (ds.length === before && schema.rules) reportRules(ds, schema.rules(params, { inputs: facts }), out.spans, s.decl.name.span);
  if (ds.length === before) reportRules(ds, loraRules(params as { lora?: LoraParams | null }, { inputs: facts }), out.spans, s.decl.name.span);
  const ok = ds.length === before;
  ctx.stageDone.set(name, ok ? node : undefined);
  if (ok) ctx.nodes.set(node.id, node);
  return ok ? node : undefined;
}
