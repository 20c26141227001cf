// Every example compiles without diagnostics (files under a lib/ folder are imported, not compiled alone;
// stores a run left in examples/ are not specs).
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.ts';
import { renderDiagnostics } from '../core/diagnostics.ts';
import { specFilesIn } from '../compiler/load.ts';

describe('examples', () => {
  const all = specFilesIn('examples');
  it('there are examples', () => expect(all.length).toBeGreaterThanOrEqual(4));
  for (const f of all) {
    it(`${f} compiles`, () => {
      const r = compileFile(f);
      expect(renderDiagnostics(r.diagnostics, (p) => r.sources.get(p))).toBe('');
      expect(r.plan!.nodes.some((n) => n.category === 'stage')).toBe(true);
    });
  }
});
