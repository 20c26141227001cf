// A reward stage with `length_debias { }` (ODIN) resumes bit-identically: its length head is trained
// beside the model but never saved with it, so the resumable checkpoint must carry it (before this
// test, a resumed run restarted the head from its initial values and ended with other weights).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { runPlan } from '../../runtime/runner.ts';
import { ArtifactStore } from '../../runtime/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlhfc-odin-resume-'));
const SPEC = join(dir, 'odin.rlhf');
writeFileSync(
  SPEC,
  `seed = 5
dataset prefs = corpus("sentiment") { kind: preferences  limit: 400  split { validation: 0.1 } }
dataset text  = corpus("sentiment") { kind: text }
tokenizer bpe = bpe(text) { vocab_size: 300 }
model small = gpt { layers: 1  heads: 2  width: 32  context: 48 }
stage rm: reward {
  model: small  tokenizer: bpe  data: prefs
  max_steps: 12  batch_size: 8  log_every: 1  eval_every: 100  max_seq_length: 32  checkpoint_every: 1
  optimizer { lr: 3e-3 }
  length_debias { correlation: 1  orthogonality: 1 }
}
`,
);

beforeAll(async () => {
  await initBackend('auto');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ODIN reward stage', () => {
  it('resumes bit-identically after an interruption (the length head is in the checkpoint)', async () => {
    const compiled = compileFile(SPEC);
    expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const plan = compiled.plan!;
    const whole = join(dir, 'whole');
    const parted = join(dir, 'parted');
    await runPlan(plan, { specPath: SPEC, stage: 'rm', storeDir: whole, write: () => {}, tty: false });
    const ac = new AbortController();
    const write = (l: string) => {
      if (/^rm: step=6 /.test(l)) ac.abort();
    };
    await expect(runPlan(plan, { specPath: SPEC, stage: 'rm', storeDir: parted, write, tty: false, signal: ac.signal })).rejects.toThrow(/interrupted/i);
    let resumed = false;
    await runPlan(plan, { specPath: SPEC, stage: 'rm', storeDir: parted, write: (l) => (resumed ||= /resum/.test(l)), tty: false });
    expect(resumed).toBe(true);
    const node = plan.nodes.find((n) => n.id === 'stage:rm')!;
    const weights = (store: string) => readFileSync(join(new ArtifactStore(store).nodeDir(node.hash), 'model', 'model.safetensors'));
    expect(weights(parted).equals(weights(whole))).toBe(true);
  });
});
