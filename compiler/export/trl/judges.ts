// Judges in the TRL export: the rule judges' Python twins (py/rlhf_export/judges.py) and what a
// judge that runs user TypeScript becomes.

import type { PlanNode } from '../../../core/plan-types.ts';
import { pyLit } from './py.ts';
import type { Resource } from './writer.ts';

/** A judge node as a resource of the exported project. */
export function judgeResource(n: PlanNode): Resource {
  const a = n.params;
  switch (n.kind) {
    case 'vader':
      return { kind: 'judge', code: 'judges.vader()' };
    case 'afinn':
      return { kind: 'judge', code: 'judges.afinn()' };
    case 'length':
      return { kind: 'judge', code: `judges.length(${pyLit(a['target'] ?? 0)})` };
    case 'words':
      return { kind: 'judge', code: `judges.words(${pyLit(a['list'] ?? [])})` };
    default:
      return { kind: 'none', why: `${n.kind}() runs user TypeScript, which the Python project cannot call` };
  }
}
