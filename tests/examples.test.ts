// Every example compiles without diagnostics (files under a lib/ folder are imported, not compiled alone).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.ts';
import { renderDiagnostics } from '../core/diagnostics.ts';

function specs(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'lib' ? [] : specs(p);
    return f.endsWith('.rlhf') ? [p] : [];
  });
}

describe('examples', () => {
  const all = specs('examples');
  it('there are examples', () => expect(all.length).toBeGreaterThanOrEqual(4));
  for (const f of all) {
    it(`${f} compiles`, () => {
      const r = compileFile(f);
      expect(renderDiagnostics(r.diagnostics, (p) => r.sources.get(p))).toBe('');
      expect(r.plan!.nodes.some((n) => n.category === 'stage')).toBe(true);
    });
  }
});
