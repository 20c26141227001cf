// Parameter trees: the `{ ... }` of a stage, a source or a block setting against its schema —
// unknown parameters (RLHF3003, with where a misplaced one belongs), blocks written as values and
// back (RLHF3001), inputs bound, missing required parameters (RLHF3004), defaults filled, and the
// result in schema order.

import type * as A from '../../grammar/ast.ts';
import { diag, withSuggestion, type Diagnostic } from '../../core/diagnostics.ts';
import type { ParamSpec, ResolvedParams, Value } from '../../core/schema.ts';
import { evaluate } from '../expressions.ts';
import { envTrail, type Tree, type TreeItem } from '../resolve.ts';
import { bindInput } from './bind.ts';
import type { CheckContext, TreeResult, Where } from './context.ts';
import { scalar } from './values.ts';

/** Names people reach for out of habit (TRL/Transformers spellings) → ours. */
const ALIASES: Record<string, string> = { learning_rate: 'lr', lr_scheduler_type: 'schedule', max_grad_norm: 'grad_clip', lora_alpha: 'alpha', lora_dropout: 'dropout', target_modules: 'targets' };

function whereOf(item: TreeItem): Where {
  const env = item.kind === 'field' ? item.value.env : null;
  return { span: item.kind === 'field' ? item.value.expr.span : item.key.span, related: envTrail(env) };
}

export function checkTree(
  ctx: CheckContext,
  specs: Record<string, ParamSpec>,
  tree: Tree,
  prefix: string,
  out: TreeResult,
  owner: string,
  ownerSpan: A.Span,
  ownerFile: string,
  ownerWhat: string,
): ResolvedParams {
  const { ds } = ctx;
  const params: ResolvedParams = {};
  for (const [key, item] of tree) {
    const spec = specs[key];
    const path = prefix + key;
    const where = whereOf(item);
    out.spans.set(path, { span: item.key.span, related: where.related });
    if (!spec) {
      const kinds = Object.keys(specs);
      // A field of a nested block written at this level (`lr: 1e-3` instead of `optimizer { lr: 1e-3 }`).
      const wanted = ALIASES[key] ?? key;
      const home = Object.entries(specs).find(([, sp]) => sp.type === 'block' && wanted in sp.fields)?.[0];
      const message = home
        ? `unknown parameter '${path}' for ${ownerWhat}; it belongs in the '${home}' block: ${home} { ${wanted}: … }`
        : withSuggestion(`unknown parameter '${path}' for ${ownerWhat}`, key, kinds);
      ds.push(
        diag('RLHF3003', message, item.key.span, {
          related: where.related,
          notes: [`parameters${prefix ? ` of ${prefix.slice(0, -1)}` : ''}: ${kinds.join(', ')}`],
        }),
      );
      continue;
    }
    if (spec.type === 'block') {
      if (item.kind !== 'block') {
        ds.push(diag('RLHF3001', `'${path}' is a block: write '${key} { ... }'`, item.key.span, { related: where.related }));
        continue;
      }
      params[key] = checkTree(ctx, spec.fields, item.tree, `${path}.`, out, owner, ownerSpan, ownerFile, ownerWhat);
      continue;
    }
    if (item.kind === 'block') {
      ds.push(diag('RLHF3001', `'${path}' is not a block: write '${key}: value'`, item.key.span, { related: where.related }));
      continue;
    }
    const v = evaluate(item.value.expr, item.value.env, ds);
    if (!v) continue;
    if (spec.type === 'input') {
      if (spec.many) {
        const items = v.k === 'list' ? v.items : [v];
        items.forEach((it, i) => {
          // each inline judge of a list is its own node: `g.rewards[0]`, `g.rewards[1]`
          const b = bindInput(ctx, spec, it, path, { span: it.span, related: where.related }, owner, ownerFile, `${owner}.${path}[${i}]`);
          if (b) {
            out.inputs[`${path}[${i}]`] = b.b;
            out.inputNodes[`${path}[${i}]`] = b.node;
          }
        });
        if (spec.required && items.length === 0) ds.push(diag('RLHF3004', `'${path}' needs at least one entry`, v.span, { related: where.related }));
      } else {
        const b = bindInput(ctx, spec, v, path, where, owner, ownerFile);
        if (b) {
          out.inputs[path] = b.b;
          out.inputNodes[path] = b.node;
        }
      }
      continue;
    }
    const c = scalar(ds, spec, v, path, where);
    if (c !== undefined) params[key] = c;
  }
  // Missing parameters: required ones are errors; the rest take defaults.
  for (const [key, spec] of Object.entries(specs)) {
    const path = prefix + key;
    if (tree.has(key)) continue;
    if (spec.type === 'input') {
      if (spec.required) ds.push(diag('RLHF3004', `${ownerWhat} needs '${path}' (${spec.accepts.join(' or ')}): ${spec.doc}`, ownerSpan));
      continue;
    }
    if (spec.type === 'block') {
      if (spec.presence === 'always') params[key] = checkTree(ctx, spec.fields, new Map(), `${path}.`, out, owner, ownerSpan, ownerFile, ownerWhat);
      else params[key] = null;
      continue;
    }
    if (spec.required) {
      ds.push(diag('RLHF3004', `${ownerWhat} needs '${path}': ${spec.doc}`, ownerSpan));
      continue;
    }
    params[key] = spec.default === undefined ? null : (spec.default as Value);
    out.defaults.push(path);
  }
  // Schema order, so plans read the same whatever order the user wrote.
  const ordered: ResolvedParams = {};
  for (const key of Object.keys(specs)) if (key in params) ordered[key] = params[key];
  return ordered;
}

/** A written `{ ... }` block as a tree (RLHF2008 for a key given twice). */
export function blockTree(ds: Diagnostic[], b: A.Block): Tree {
  const t: Tree = new Map();
  for (const e of b.entries) {
    if (t.has(e.key.name)) {
      ds.push(diag('RLHF2008', `'${e.key.name}' is given twice in this block`, e.key.span));
      continue;
    }
    t.set(e.key.name, e.kind === 'field' ? { kind: 'field', key: e.key, value: { expr: e.value, env: null }, span: e.span } : { kind: 'block', key: e.key, tree: blockTree(ds, e.body), span: e.span });
  }
  return t;
}
