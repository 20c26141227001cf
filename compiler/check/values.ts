// Parameter values: a scalar or list checked against its spec (type, range, enum) and converted to
// plain JSON (RLHF3001 wrong type, RLHF3002 out of range, RLHF3006 not one of the allowed strings).

import { diag, withSuggestion, type Diagnostic } from '../../core/diagnostics.ts';
import type { ParamSpec, Value } from '../../core/schema.ts';
import { describeRVal, type RVal } from '../expressions.ts';
import type { Where } from './context.ts';

export function scalar(ds: Diagnostic[], spec: ParamSpec, v: RVal, path: string, where: Where): Value | undefined {
  const bad = (code: 'RLHF3001' | 'RLHF3002' | 'RLHF3006', msg: string, notes?: string[]) => {
    ds.push(diag(code, msg, where.span, { related: where.related, notes }));
    return undefined;
  };
  switch (spec.type) {
    case 'int':
    case 'float': {
      if (v.k !== 'num') return bad('RLHF3001', `'${path}' expects ${spec.type === 'int' ? 'an integer' : 'a number'}, found ${describeRVal(v)}`);
      if (spec.type === 'int' && !v.isInt) return bad('RLHF3001', `'${path}' expects an integer, found ${describeRVal(v)}`);
      const lo = spec.min;
      const hi = spec.max;
      const minEx = spec.type === 'float' && spec.minExclusive;
      const maxEx = spec.type === 'float' && spec.maxExclusive;
      if (lo !== undefined && (minEx ? v.v <= lo : v.v < lo)) return bad('RLHF3002', `'${path}' must be ${minEx ? '>' : '≥'} ${lo}, found ${v.v}`);
      if (hi !== undefined && (maxEx ? v.v >= hi : v.v > hi)) return bad('RLHF3002', `'${path}' must be ${maxEx ? '<' : '≤'} ${hi}, found ${v.v}`);
      return v.v;
    }
    case 'bool':
      return v.k === 'bool' ? v.v : bad('RLHF3001', `'${path}' expects true or false, found ${describeRVal(v)}`);
    case 'string':
      if (v.k === 'ref' && v.path.length === 1 && spec.enum) {
        // A bare word where an enum string is expected reads naturally: `kind: pairs`.
        v = { k: 'str', v: v.path[0].name, span: v.span };
      }
      if (v.k !== 'str') return bad('RLHF3001', `'${path}' expects a string, found ${describeRVal(v)}`);
      if (spec.enum && !spec.enum.includes(v.v)) {
        return bad('RLHF3006', withSuggestion(`'${path}' cannot be ${JSON.stringify(v.v)}`, v.v, spec.enum), [`expected one of: ${spec.enum.join(', ')}`]);
      }
      return v.v;
    case 'list': {
      if (v.k !== 'list') return bad('RLHF3001', `'${path}' expects a list, found ${describeRVal(v)}`);
      const out: Value[] = [];
      for (const item of v.items) {
        const c = scalar(ds, { type: spec.of, doc: '', enum: spec.enum } as ParamSpec, item, `${path}[]`, { span: item.span, related: where.related });
        if (c === undefined) return undefined;
        out.push(c);
      }
      return out;
    }
    default:
      return undefined;
  }
}
