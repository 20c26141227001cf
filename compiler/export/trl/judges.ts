// Judges in the TRL export: the rule judges' Python twins (py/rlhf_export/judges.py), and user
// TypeScript functions, copied to hooks/ and run by Node.js + tsx in a subprocess
// (py/rlhf_export/ts_judge.mjs) — the same code as `rlhfc run`, not a translation.

import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { PlanNode } from '../../../core/plan-types.ts';
import { pyLit } from './py.ts';
import type { Resource } from './writer.ts';

/** Where user hook files go in the project: hooks/<file name> (numbered when two differ but share a name). */
export function hookCopier(specDir: string, copies: Map<string, string>): (ref: string) => { file: string; name: string } | { why: string } {
  const byAbs = new Map<string, string>();
  return (ref) => {
    const hash = ref.lastIndexOf('#');
    const abs = resolve(specDir, ref.slice(0, hash));
    // Only the hook file itself is copied: one that imports other local files would not load there.
    const local = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]*)['"]/.exec(readFileSync(abs, 'utf8'));
    if (local) return { why: `${ref.slice(0, hash)} imports the local file '${local[1]}', and the export copies only the hook file itself` };
    let file = byAbs.get(abs);
    if (!file) {
      file = `hooks/${basename(abs)}`;
      for (let i = 2; copies.has(file) && copies.get(file) !== abs; i++) file = `hooks/${i}_${basename(abs)}`;
      copies.set(file, abs);
      byAbs.set(abs, file);
    }
    return { file, name: ref.slice(hash + 1) };
  };
}

/** A judge node as a resource of the exported project. */
export function judgeResource(n: PlanNode, hook: (ref: string) => { file: string; name: string } | { why: string }): Resource {
  const a = n.params;
  switch (n.kind) {
    case 'vader':
      return { kind: 'judge', code: 'judges.vader()' };
    case 'afinn':
      return { kind: 'judge', code: a['per_token'] === false ? 'judges.afinn(per_token=False)' : 'judges.afinn()' };
    case 'length':
      return { kind: 'judge', code: `judges.length(${pyLit(a['target'] ?? 0)})` };
    case 'words':
      return { kind: 'judge', code: `judges.words(${pyLit(a['list'] ?? [])})` };
    case 'fn': {
      const h = hook(String(a['ref']));
      if ('why' in h) return { kind: 'none', why: h.why };
      return { kind: 'judge', code: `judges.typescript(${pyLit(h.file)}, ${pyLit(h.name)})` };
    }
    default:
      return { kind: 'none', why: `the trl target has no equivalent of ${n.kind}()` };
  }
}
