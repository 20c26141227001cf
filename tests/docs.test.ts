import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateReference, spliceReference } from '../compiler/reference.ts';
import { STAGE_SCHEMAS } from '../runtime/stages/index.ts';
import { spliceTrlMapping } from '../compiler/export/trl/docs.ts';

describe('README parameter reference', () => {
  it('is up to date with the schemas (run `npm run docs` to refresh)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(spliceReference(readme)).toBe(readme);
  });
  it('has the TRL mapping table of compiler/export/trl/mapping.ts (run `npm run docs` to refresh)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(spliceTrlMapping(readme)).toBe(readme);
  });
  it('documents every stage kind and every parameter', () => {
    const ref = generateReference();
    for (const s of Object.values(STAGE_SCHEMAS)) {
      expect(ref).toContain(`stage NAME: ${s.kind} {`);
      for (const k of Object.keys(s.params)) expect(ref).toContain(`\`${k}\``);
    }
  });
});
