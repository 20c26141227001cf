// The Plan says which parameters are floats, so a back end writing typed code (the TRL export
// writes `1.0`, not `1`) reads the Plan only, not the runtime's schemas.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { floatPaths } from '../../core/schema.ts';
import { STAGE_SCHEMAS } from '../../runtime/stages/index.ts';
import { MODEL_SOURCES } from '../../runtime/sources/index.ts';

describe('PlanNode.floats', () => {
  const plan = compileFile('tests/fixtures/stages.rlhf').plan!;

  it('lists the float parameters of every stage and source node by dotted path, from its schema', () => {
    const ppo = plan.nodes.find((n) => n.kind === 'ppo')!;
    expect(ppo.floats).toEqual(expect.arrayContaining(['optimizer.lr', 'optimizer.betas', 'kl.init']));
    expect(ppo.floats).not.toContain('optimizer.warmup_steps'); // an int
    expect(ppo.floats).not.toContain('optimizer.schedule'); // a string
    for (const n of plan.nodes.filter((x) => x.category === 'stage')) expect(n.floats ?? []).toEqual(floatPaths(STAGE_SCHEMAS[n.kind].params));
    const gpt = plan.nodes.find((n) => n.category === 'model' && n.kind === 'gpt')!;
    expect(gpt.floats).toEqual(['dropout']);
    expect(floatPaths(MODEL_SOURCES['gpt'].params)).toEqual(['dropout']);
  });

  it('is read by the TRL export instead of the runtime registries (writer and emit import no runtime code)', () => {
    for (const f of ['writer.ts', 'emit.ts', 'mapping.ts', 'rows.ts', 'source-rows.ts']) {
      const text = readFileSync(`compiler/export/trl/${f}`, 'utf8');
      expect(text, f).not.toMatch(/^import (?!type )[^;]*runtime\//m);
    }
  });
});
