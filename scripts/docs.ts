// Rewrites the generated parts of docs/: the parameter reference (compiler/reference.ts) in
// docs/reference.md and the TRL mapping (compiler/export/trl/docs.ts) in docs/trl-export.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { spliceReference } from '../compiler/reference.ts';
import { spliceTrlMapping } from '../compiler/export/trl/docs.ts';

for (const [name, splice] of [
  ['reference.md', spliceReference],
  ['trl-export.md', spliceTrlMapping],
] as const) {
  const path = new URL(`../docs/${name}`, import.meta.url);
  const before = readFileSync(path, 'utf8');
  const after = splice(before);
  if (after !== before) writeFileSync(path, after);
  console.log(`docs/${name}: ${after === before ? 'already up to date' : 'updated'}`);
}
