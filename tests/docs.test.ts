// The generated pages of docs/ match what generates them (run `npm run docs` to refresh), and the
// README stays the front door.
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateReference, spliceReference } from '../compiler/reference.ts';
import { STAGE_SCHEMAS } from '../runtime/stages/index.ts';
import { spliceTrlMapping } from '../compiler/export/trl/docs.ts';

const page = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

describe('docs', () => {
  it('docs/reference.md is up to date with the schemas (run `npm run docs` to refresh)', () => {
    const text = page('docs/reference.md');
    expect(spliceReference(text)).toBe(text);
  });
  it('docs/trl-export.md has the TRL mapping table of compiler/export/trl/mapping.ts (run `npm run docs` to refresh)', () => {
    const text = page('docs/trl-export.md');
    expect(spliceTrlMapping(text)).toBe(text);
  });
  it('documents every stage kind and every parameter', () => {
    const ref = generateReference();
    for (const s of Object.values(STAGE_SCHEMAS)) {
      expect(ref).toContain(`stage NAME: ${s.kind} {`);
      for (const k of Object.keys(s.params)) expect(ref).toContain(`\`${k}\``);
    }
  });
  it('README.md is the front door: at most 20 KB, linking the generated pages instead of holding them', () => {
    expect(statSync(new URL('../README.md', import.meta.url)).size).toBeLessThanOrEqual(20 * 1024);
    const readme = page('README.md');
    for (const link of ['docs/reference.md', 'docs/trl-export.md', 'docs/performance.md', 'docs/results.md']) expect(readme).toContain(`](${link})`);
    expect(readme).not.toContain('<!-- reference:begin');
    expect(readme).not.toContain('<!-- trl-mapping:begin');
  });
});
