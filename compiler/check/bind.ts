// Binding: a reference (`base.model`, `prefs`) or an inline judge call (`vader()`) in an input
// parameter becomes an edge to a node output of the right artifact type. Naming errors are resolve's
// codes (RLHF2003 unknown name, RLHF2010 unknown judge, RLHF2011 no such output, RLHF2012 not a
// value); RLHF3005 wrong artifact type; RLHF4001 a cycle of stages. The node a reference names is
// checked on first use (ctx.stage / ctx.source), so a program is checked in dependency order.

import { diag, withSuggestion } from '../../core/diagnostics.ts';
import { DATASET_KINDS, type ArtifactType, type ParamSpec } from '../../core/schema.ts';
import { describeRVal, type RVal } from '../expressions.ts';
import type { SourceDecl } from '../resolve.ts';
import { STAGE_SCHEMAS } from '../../runtime/stages/index.ts';
import { JUDGE_SOURCES } from '../../runtime/sources/index.ts';
import { OUTPUT_OF_SOURCE, type CheckContext, type CheckedInput, type CheckedNode, type Where } from './context.ts';

/** Bind a reference to a node output; reports RLHF2003/2011/2012/4001. */
function bindRef(ctx: CheckContext, v: Extract<RVal, { k: 'ref' }>, where: Where): CheckedNode | { node: CheckedNode; output: string } | undefined {
  const { ds, res } = ctx;
  const [head, ...tail] = v.path;
  const decl = res.symbols.get(head.name);
  if (!decl) {
    const names = [...res.symbols.keys()];
    ds.push(diag('RLHF2003', withSuggestion(`unknown name '${head.name}'`, head.name, names), head.span, { related: where.related }));
    return undefined;
  }
  if (decl.kind === 'template' || decl.kind === 'setting') {
    ds.push(diag('RLHF2012', `'${head.name}' is a ${decl.kind}; it cannot be used as a value here`, head.span, { related: where.related }));
    return undefined;
  }
  if (decl.kind === 'stage') {
    const stage = ctx.stageByName.get(head.name);
    if (!stage) return undefined; // its own errors were reported
    const schema = STAGE_SCHEMAS[stage.kind];
    const outs = Object.keys(schema.outputs);
    if (tail.length === 0) {
      ds.push(diag('RLHF2011', `'${head.name}' is a stage; name one of its outputs: ${outs.map((o) => `${head.name}.${o}`).join(', ')}`, v.span, { related: where.related }));
      return undefined;
    }
    if (tail.length > 1 || !outs.includes(tail[0].name)) {
      ds.push(
        diag('RLHF2011', withSuggestion(`stage '${head.name}' (${stage.kind}) has no output '${tail.map((t) => t.name).join('.')}'`, tail[0].name, outs), tail[0].span, {
          related: where.related,
          notes: [`outputs of ${stage.kind}: ${outs.join(', ')}`],
        }),
      );
      return undefined;
    }
    if (ctx.inProgress.includes(head.name)) {
      const cycle = [...ctx.inProgress.slice(ctx.inProgress.indexOf(head.name)), head.name];
      ds.push(diag('RLHF4001', `stages depend on each other in a cycle: ${cycle.join(' → ')}`, v.span, { related: where.related }));
      return undefined;
    }
    const node = ctx.stage(stage);
    return node ? { node, output: tail[0].name } : undefined;
  }
  if (tail.length) {
    ds.push(diag('RLHF2012', `'${head.name}' is a ${decl.kind} and has no field '${tail[0].name}'`, tail[0].span, { related: where.related }));
    return undefined;
  }
  return ctx.source(decl as SourceDecl);
}

/** Resolve an input parameter's value (reference or inline judge call) to a binding. */
export function bindInput(
  ctx: CheckContext,
  spec: Extract<ParamSpec, { type: 'input' }>,
  v: RVal,
  path: string,
  where: Where,
  owner: string,
  ownerFile: string,
  /** Name of the node an inline judge call makes (default `owner.path`; list entries pass their index). */
  inlineName = `${owner}.${path}`,
): { b: CheckedInput; node: CheckedNode } | undefined {
  const { ds } = ctx;
  let target: { node: CheckedNode; output: string } | undefined;
  if (v.k === 'ref') {
    const r = bindRef(ctx, v, where);
    if (!r) return undefined;
    target = 'output' in r && !('category' in r) ? r : { node: r as CheckedNode, output: OUTPUT_OF_SOURCE[(r as CheckedNode).category] };
  } else if (v.k === 'call') {
    if (!JUDGE_SOURCES[v.callee.name]) {
      const all = Object.keys(JUDGE_SOURCES);
      ds.push(
        diag('RLHF2010', withSuggestion(`unknown judge '${v.callee.name}'`, v.callee.name, all), v.callee.span, { related: where.related, notes: [`judges: ${all.join(', ')}`] }),
      );
      return undefined;
    }
    const node = ctx.construct('judge', inlineName, JUDGE_SOURCES[v.callee.name], v.args, undefined, v.span, where.related, ownerFile);
    if (!node) return undefined;
    target = { node, output: 'judge' };
  } else {
    ds.push(
      diag('RLHF3005', `'${path}' expects ${spec.accepts.join(' or ')}, found ${describeRVal(v)}`, where.span, {
        related: where.related,
        notes: ['give the name of a declaration or a stage output, e.g. base.model'],
      }),
    );
    return undefined;
  }
  const type = target.node.category === 'stage' ? target.node.outputs[target.output] : outputType(target.node);
  if (!spec.accepts.includes(type)) {
    const what = target.node.category === 'stage' ? `${target.node.name}.${target.output}` : `${target.node.category} '${target.node.name}'`;
    ds.push(
      diag('RLHF3005', `'${path}' expects ${spec.accepts.map((a) => `'${a}'`).join(' or ')}, but ${what} is '${type}'`, where.span, {
        related: where.related,
        ...(target.node.category === 'dataset' && spec.accepts.some((a) => (DATASET_KINDS as readonly string[]).includes(a))
          ? { notes: [`a dataset's records are the kind it is declared with: e.g. \`dataset ${target.node.name} = jsonl("…") { kind: ${spec.accepts.find((a) => (DATASET_KINDS as readonly string[]).includes(a))} }\`${spec.accepts.includes('unpaired') ? ' or corpus("sentiment") { kind: unpaired }' : ''}`] }
          : {}),
      }),
    );
    return undefined;
  }
  return { b: { node: target.node.id, output: target.output, type }, node: target.node };
}

function outputType(n: CheckedNode): ArtifactType {
  if (n.category === 'dataset') return n.datasetKind as ArtifactType;
  return Object.values(n.outputs)[0];
}
