// Rewrites the generated parameter reference inside README.md (see compiler/reference.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { spliceReference } from '../compiler/reference.ts';
import { spliceTrlMapping } from '../compiler/export/trl/docs.ts';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = spliceTrlMapping(spliceReference(before));
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README reference already up to date' : 'README reference updated');
