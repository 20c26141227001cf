// The TRL mapping rows of the stage kinds address their parameter through a typed accessor,
// checked by the type checker against the stage's schema types (`npx tsc --noEmit` compiles this
// file: the @ts-expect-error lines must stay errors), never by a dotted string spelled by hand.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ParamsOf } from '../../../core/schema.ts';
import { STAGE_MAPPING } from '../../../compiler/export/trl/mapping.ts';
import { rowsOf } from '../../../compiler/export/trl/rows.ts';
import type { schema as ppoSchema } from '../../../runtime/stages/ppo.ts';

type PpoParams = ParamsOf<(typeof ppoSchema)['params']>;

describe('typed export rows', () => {
  const row = rowsOf<PpoParams>();

  it('record the dotted path their accessor reads, and give value functions the parameter typed', () => {
    expect(row((p) => p.kl.init).param).toBe('kl.init');
    expect(row((p) => p.lora?.r).param).toBe('lora.r');
    expect(row((p) => p.steps).param).toBe('steps');
    const r = row((p) => p.kl.target, { into: 'config', fields: ['kl_target'], value: (v, p) => ({ kl_target: v * 2 + p.kl.init }) });
    expect(r.value!(3, { kl: { init: 0.5 } })).toEqual({ kl_target: 6.5 });
    // Type errors (checked by tsc, not run): a parameter the schema lacks, a block read as a leaf, a value used as the wrong type.
    if (Math.random() > 2) {
      // @ts-expect-error: ppo has no parameter 'klinit'
      row((p) => p.klinit);
      // @ts-expect-error: kl has no field 'start'
      row((p) => p.kl.start);
      // @ts-expect-error: steps is a number, not a string
      row((p) => p.steps, { value: (v) => ({ steps: v.toUpperCase() }) });
    }
  });

  it('refuse an accessor that does more than read one parameter', () => {
    expect(() => row((p) => p.kl.init + 1)).toThrow(/must only read one parameter/);
    expect(() => row(() => 0)).toThrow(/must only read one parameter/);
  });

  it('are how every stage kind names its parameters: no hand-written dotted path in stages/<kind>.ts or the shared groups', () => {
    const dir = 'compiler/export/trl/stages';
    for (const f of [...readdirSync(dir).map((x) => `${dir}/${x}`), 'compiler/export/trl/rows.ts']) {
      expect(readFileSync(f, 'utf8'), f).not.toMatch(/\bparam: '/);
    }
    const ppo = STAGE_MAPPING['ppo'].map((r) => r.param);
    expect(ppo).toEqual(expect.arrayContaining(['kl.init', 'generation.top_p', 'lora.r', 'optimizer.lr', 'samples']));
  });
});
