// An adapter folder whose weights hold NaN or Infinity is refused when loaded, naming the folder
// (not found later as a stage's NaN loss that names only the stage).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../core/diagnostics.ts';
import { loadCheckpoint, loraConfig } from '../../runtime/hf-checkpoint.ts';
import { encodeSafetensors } from '../../runtime/safetensors.ts';
import { CharTokenizer } from '../../runtime/tokenizers/index.ts';
import { writeTinyModel } from '../hostile/cases.ts';

function adapterFolder(value: number): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'rlhfc-adapter-nan-')), 'my-adapter');
  writeTinyModel(join(dir, 'base'));
  // A tokenizer that fits the tiny base's 40-token vocabulary.
  writeFileSync(join(dir, 'base', 'tokenizer.json'), JSON.stringify(CharTokenizer.train(['abcdefgh ']).toJSON()));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(loraConfig({ r: 2, alpha: 4, dropout: 0, targetModules: ['c_attn'], baseModel: './base' })));
  const p = 'base_model.model.transformer.h.0.attn.c_attn.';
  const a = new Float32Array(16).fill(0.01);
  a[5] = value;
  const t = new Map([
    [`${p}lora_A.weight`, { shape: [2, 8], data: a }],
    [`${p}lora_B.weight`, { shape: [24, 2], data: new Float32Array(48) }],
  ]);
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
  return dir;
}

describe('adapter folders with non-finite weights', () => {
  it('load when finite (control)', async () => {
    const r = await loadCheckpoint(adapterFolder(0.5));
    expect(r.adapter?.weights.size).toBe(2);
  });

  it.each([NaN, Infinity])('are refused naming the adapter folder and the tensor (%s)', async (v) => {
    const dir = adapterFolder(v);
    const e = await loadCheckpoint(dir).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(UserError);
    const msg = (e as UserError).diagnostics.map((d) => d.message).join('\n');
    expect(msg).toContain(`adapter folder ${dir}`);
    expect(msg).toContain("tensor 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'");
    expect(msg).toContain(`(${v}) at index 5`);
  });
});
