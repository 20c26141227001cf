// Evaluating expressions: literals, lists, template parameters and arithmetic fold to values;
// names that are not template parameters stay references (bound to declarations by check);
// calls stay calls (constructors such as `vader()` or `fn("./hooks.ts#f")`).

import type * as A from '../grammar/ast.ts';
import { diag, type Diagnostic } from '../core/diagnostics.ts';
import { envTrail, type Env } from './resolve.ts';

export type RVal =
  | { k: 'num'; v: number; isInt: boolean; span: A.Span }
  | { k: 'str'; v: string; span: A.Span }
  | { k: 'bool'; v: boolean; span: A.Span }
  | { k: 'list'; items: RVal[]; span: A.Span }
  | { k: 'ref'; path: A.Ident[]; span: A.Span; env: Env | null }
  | { k: 'call'; callee: A.Ident; args: { name?: A.Ident; value: RVal; span: A.Span }[]; span: A.Span; env: Env | null };

export function describeRVal(v: RVal): string {
  switch (v.k) {
    case 'num':
      return v.isInt ? `integer ${v.v}` : `number ${v.v}`;
    case 'str':
      return `string ${JSON.stringify(v.v)}`;
    case 'bool':
      return `boolean ${v.v}`;
    case 'list':
      return 'a list';
    case 'ref':
      return `reference '${v.path.map((p) => p.name).join('.')}'`;
    case 'call':
      return `call '${v.callee.name}(…)'`;
  }
}

function lookup(env: Env | null, name: string) {
  return env?.vars.get(name);
}

/** Evaluate `expr` in `env`. Returns undefined (after reporting) on an arithmetic error. */
export function evaluate(expr: A.Expr, env: Env | null, ds: Diagnostic[], depth = 0, refs = 0): RVal | undefined {
  // Two bounds, each with its own message: template parameters referring to each other (refs), and
  // an expression's own nesting (a long chain of operators is a deep tree too).
  if (refs > 64) {
    ds.push(diag('RLHF2009', 'template parameters refer to each other too deeply', expr.span, { related: envTrail(env) }));
    return undefined;
  }
  if (depth > 256) {
    ds.push(diag('RLHF1007', 'expression nested too deeply (more than 256 levels of operators, lists or calls)', expr.span, { notes: ['split it into named values'] }));
    return undefined;
  }
  switch (expr.kind) {
    case 'number':
      return { k: 'num', v: expr.value, isInt: expr.isInt, span: expr.span };
    case 'string':
      return { k: 'str', v: expr.value, span: expr.span };
    case 'bool':
      return { k: 'bool', v: expr.value, span: expr.span };
    case 'list': {
      const items: RVal[] = [];
      for (const e of expr.items) {
        const v = evaluate(e, env, ds, depth + 1, refs);
        if (!v) return undefined;
        items.push(v);
      }
      return { k: 'list', items, span: expr.span };
    }
    case 'ref': {
      const bound = lookup(env, expr.path[0].name);
      if (!bound) return { k: 'ref', path: expr.path, span: expr.span, env };
      const v = evaluate(bound.expr, bound.env, ds, depth, refs + 1);
      if (!v) return undefined;
      if (expr.path.length === 1) return { ...v, span: expr.span } as RVal;
      // A parameter bound to a reference may be dotted: `m.model` with m = base.
      if (v.k === 'ref') return { k: 'ref', path: [...v.path, ...expr.path.slice(1)], span: expr.span, env: v.env };
      ds.push(diag('RLHF3008', `'${expr.path[0].name}' is ${describeRVal(v)} and has no field '${expr.path[1].name}'`, expr.span, { related: envTrail(env) }));
      return undefined;
    }
    case 'call': {
      const args: { name?: A.Ident; value: RVal; span: A.Span }[] = [];
      for (const a of expr.args) {
        const v = evaluate(a.value, env, ds, depth + 1, refs);
        if (!v) return undefined;
        args.push({ name: a.name, value: v, span: a.span });
      }
      return { k: 'call', callee: expr.callee, args, span: expr.span, env };
    }
    case 'unary': {
      const v = evaluate(expr.operand, env, ds, depth + 1, refs);
      if (!v) return undefined;
      if (v.k !== 'num') {
        ds.push(diag('RLHF3008', `cannot negate ${describeRVal(v)}`, expr.span, { related: envTrail(env) }));
        return undefined;
      }
      return { k: 'num', v: -v.v, isInt: v.isInt, span: expr.span };
    }
    case 'binary': {
      const l = evaluate(expr.left, env, ds, depth + 1, refs);
      const r = evaluate(expr.right, env, ds, depth + 1, refs);
      if (!l || !r) return undefined;
      if (l.k === 'str' && r.k === 'str' && expr.op === '+') return { k: 'str', v: l.v + r.v, span: expr.span };
      if (l.k !== 'num' || r.k !== 'num') {
        ds.push(
          diag('RLHF3008', `cannot apply '${expr.op}' to ${describeRVal(l)} and ${describeRVal(r)}`, expr.span, {
            related: envTrail(env),
            notes: ['arithmetic works on numbers; + also joins two strings'],
          }),
        );
        return undefined;
      }
      if (expr.op === '/' && r.v === 0) {
        ds.push(diag('RLHF3008', 'division by zero', expr.span, { related: envTrail(env) }));
        return undefined;
      }
      const v = expr.op === '+' ? l.v + r.v : expr.op === '-' ? l.v - r.v : expr.op === '*' ? l.v * r.v : l.v / r.v;
      // Integers stay integers under + - *, and under / when the division is exact.
      const isInt = l.isInt && r.isInt && Number.isInteger(v);
      return { k: 'num', v, isInt, span: expr.span };
    }
  }
}
