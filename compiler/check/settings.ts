// Top-level settings (`seed = 42`, `cluster { gpus: 8 }`) against SETTINGS: unknown ones (RLHF2013),
// a block written as a value or back (RLHF3001), values checked like parameters; defaults filled.

import { diag, withSuggestion } from '../../core/diagnostics.ts';
import { withDefaults, type ResolvedParams, type Value } from '../../core/schema.ts';
import { evaluate } from '../expressions.ts';
import { SETTINGS } from '../../runtime/sources/index.ts';
import { emptyResult, type CheckContext } from './context.ts';
import { blockTree, checkTree } from './tree.ts';
import { scalar } from './values.ts';

export function checkSettings(ctx: CheckContext): ResolvedParams {
  const { ds } = ctx;
  const settings: ResolvedParams = {};
  for (const s of ctx.res.settings) {
    const spec = SETTINGS[s.name.name];
    if (!spec) {
      ds.push(diag('RLHF2013', withSuggestion(`unknown setting '${s.name.name}'`, s.name.name, Object.keys(SETTINGS)), s.name.span, { notes: [`settings: ${Object.keys(SETTINGS).join(', ')}`] }));
      continue;
    }
    if (spec.type === 'block' || s.body) {
      // A block setting (`cluster { gpus: 8 }`): checked like a stage's nested block.
      if (spec.type !== 'block') ds.push(diag('RLHF3001', `'${s.name.name}' is not a block: write '${s.name.name} = value'`, s.name.span));
      else if (!s.body) ds.push(diag('RLHF3001', `'${s.name.name}' is a block: write '${s.name.name} { ... }'`, s.name.span));
      else settings[s.name.name] = checkTree(ctx, spec.fields, blockTree(ds, s.body), `${s.name.name}.`, emptyResult(), s.name.name, s.name.span, s.span.file, `setting '${s.name.name}'`);
      continue;
    }
    const v = evaluate(s.value, null, ds);
    if (v) {
      const c = scalar(ds, spec, v, s.name.name, { span: v.span, related: [] });
      if (c !== undefined) settings[s.name.name] = c;
    }
  }
  for (const [k, spec] of Object.entries(SETTINGS)) {
    if (settings[k] !== undefined) continue;
    if (spec.type === 'block') settings[k] = spec.presence === 'always' ? withDefaults(spec.fields, {}) : null;
    else if ('default' in spec) settings[k] = spec.default as Value;
  }
  return settings;
}
