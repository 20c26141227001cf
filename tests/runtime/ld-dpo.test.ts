// LD-DPO's token weights (runtime/rl/ld-dpo.ts) against hand values, the weighted sequence log-probs
// of a real model against shared + α·tail summed by hand from its per-token log-probs, and the dpo
// stage with ld_alpha on a tiny run (tests/fixtures/ld-dpo.rlhf). TRL's own ld_alpha code on the
// same inputs: tests/interop/ld-dpo.test.ts.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { ldTokenWeights } from '../../runtime/rl/ld-dpo.ts';
import { runPlan, type RunResult } from '../../runtime/runner.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { collate, type Row } from '../../runtime/train/examples.ts';
import { tinyModel, tok } from './helpers.ts';

describe('ldTokenWeights', () => {
  it('weights response tokens past the shared length by α: hand values, with prompt and padding zeros', () => {
    // pair 0: chosen 2 response tokens (after 3 prompt positions, 1 pad), rejected 5 → shared 2
    // pair 1: chosen 4, rejected 1 → shared 1
    const chosen = [0, 0, 0, 1, 1, 0, /**/ 0, 1, 1, 1, 1, 0];
    const rejected = [0, 1, 1, 1, 1, 1, 0, /**/ 0, 0, 0, 1, 0, 0, 0];
    const w = ldTokenWeights(chosen, rejected, 2, 6, 7, 0.25);
    expect(Array.from(w.chosen)).toEqual([0, 0, 0, 1, 1, 0, /**/ 0, 1, 0.25, 0.25, 0.25, 0]);
    expect(Array.from(w.rejected)).toEqual([0, 1, 1, 0.25, 0.25, 0.25, 0, /**/ 0, 0, 0, 1, 0, 0, 0]);
    // α = 0 drops the tail; α = 1 is the mask itself; equal lengths have no tail
    expect(Array.from(ldTokenWeights(chosen, rejected, 2, 6, 7, 0).rejected)).toEqual([0, 1, 1, 0, 0, 0, 0, /**/ 0, 0, 0, 1, 0, 0, 0]);
    expect(Array.from(ldTokenWeights(chosen, rejected, 2, 6, 7, 1).chosen)).toEqual(chosen);
    expect(Array.from(ldTokenWeights([0, 1, 1], [1, 0, 1], 1, 3, 3, 0.5).chosen)).toEqual([0, 1, 1]);
  });

  it('refuses α outside [0, 1] and masks of the wrong size', () => {
    expect(() => ldTokenWeights([1], [1], 1, 1, 1, 1.5)).toThrow(/ld_alpha must be in \[0, 1\]/);
    expect(() => ldTokenWeights([1], [1], 1, 1, 1, -0.1)).toThrow(/ld_alpha/);
    expect(() => ldTokenWeights([1], [1], 1, 1, 1, NaN)).toThrow(/ld_alpha/);
    expect(() => ldTokenWeights([1, 1], [1], 1, 1, 1, 0.5)).toThrow(/masks of 2 and 1 values/);
  });
});

describe('weighted sequence log-probs of a model', () => {
  let m: ReturnType<typeof tinyModel>;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    m = tinyModel();
  });
  afterAll(() => m.dispose());
  let before = 0;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sequenceLogProbs with the weights as loss mask = shared + α·tail from the per-token log-probs', () => {
    const row = (prompt: string, resp: string): Row => {
      const p = tok.encode(prompt);
      const ids = [...p, ...tok.encode(resp), tok.eosId];
      return { ids, loss: ids.map((_, i) => (i >= p.length ? 1 : 0)) };
    };
    const chosenRows = [row('Four ', 'score and seven'), row('Now we ', 'are')];
    const rejectedRows = [row('Four ', 'years'), row('Now we ', 'are engaged in war')];
    const c = collate(chosenRows, tok.padId);
    const r = collate(rejectedRows, tok.padId);
    const alpha = 0.4;
    const w = ldTokenWeights(c.targetsMask, r.targetsMask, 2, c.T, r.T, alpha);
    const byHand = (b: typeof c, other: typeof r) => {
      const lp = tf.tidy(() => m.tokenLogProbs(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T]), tf.tensor2d(b.targets, [b.B, b.T], 'int32')));
      const v = lp.dataSync();
      lp.dispose();
      return Array.from({ length: b.B }, (_, i) => {
        const n = (x: typeof c, k: number) => x.targetsMask.slice(k * x.T, (k + 1) * x.T).reduce((a, y) => a + y, 0);
        const shared = Math.min(n(b, i), n(other, i));
        let k = 0;
        let s = 0;
        for (let t = 0; t < b.T; t++) {
          if (!b.targetsMask[i * b.T + t]) continue;
          k++;
          s += (k <= shared ? 1 : alpha) * v[i * b.T + t];
        }
        return s;
      });
    };
    const seq = (b: typeof c, mask: Float32Array) => {
      const t = tf.tidy(() => m.sequenceLogProbs({ ...b, targetsMask: mask }));
      const v = Array.from(t.dataSync());
      t.dispose();
      return v;
    };
    const oursC = seq(c, w.chosen);
    const oursR = seq(r, w.rejected);
    byHand(c, r).forEach((x, i) => expect(oursC[i]).toBeCloseTo(x, 4));
    byHand(r, c).forEach((x, i) => expect(oursR[i]).toBeCloseTo(x, 4));
    // the longer response of each pair lost part of its (negative) log-prob; the shorter kept all of it
    const plainC = seq(c, c.targetsMask);
    const plainR = seq(r, r.targetsMask);
    expect(oursC[0]).toBeGreaterThan(plainC[0]);
    expect(oursR[0]).toBeCloseTo(plainR[0], 5);
    expect(oursR[1]).toBeGreaterThan(plainR[1]);
    expect(oursC[1]).toBeCloseTo(plainC[1], 5);
  });
});

describe('dpo stage with ld_alpha (tests/fixtures/ld-dpo.rlhf)', () => {
  const SPEC = 'tests/fixtures/ld-dpo.rlhf';
  const dir = mkdtempSync(join(tmpdir(), 'rlhfc-ld-dpo-'));
  const runs: Record<string, RunResult> = {};
  /** The spec with ld_alpha set to `alpha` (same stage name and seed: the same batches), run in its own store. */
  const runWith = async (alpha: string) => {
    const path = join(dir, `ld-${alpha}.rlhf`);
    writeFileSync(path, readFileSync(SPEC, 'utf8').replace('ld_alpha: 0.3', `ld_alpha: ${alpha}`));
    const plan = compileFile(path).plan!;
    runs[alpha] = await runPlan(plan, { specPath: path, storeDir: join(dir, `store-${alpha}`), write: () => {}, tty: false });
  };
  beforeAll(async () => {
    await initBackend('auto');
    await runWith('0.3');
    await runWith('1');
  }, 300_000);
  const metrics = (alpha: string): Record<string, number> => JSON.parse(readFileSync(join(runs[alpha].stages.find((s) => s.name === 'ld')!.dir!, 'node.json'), 'utf8')).metrics;

  it('trains (the loss falls) and differs from plain DPO (ld_alpha: 1) on the same batches from the same start', () => {
    const ld = metrics('0.3');
    const plain = metrics('1');
    expect(ld['train_loss']).toBeLessThan(ld['first_loss']);
    expect(Number.isFinite(ld['reward_margin'])).toBe(true);
    expect(Math.abs(ld['eval_loss'] - plain['eval_loss'])).toBeGreaterThan(1e-4);
    expect(Math.abs(ld['first_loss'] - plain['first_loss'])).toBeGreaterThan(1e-6);
  });
});
