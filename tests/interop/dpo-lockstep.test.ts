// One plan, two engines, one DPO update (issue 26): the parity spec's DPO stage (beta 0.1, sigmoid,
// max_seq_length 64, max_prompt_length 16, batch 16, lr 5e-4, one epoch) on real `sentiment` preference
// pairs, run by `rlhfc run` (runtime/stages/dpo.ts) and by the exported stage script itself (TRL 1.13's
// DPOTrainer with the DPOConfig `rlhfc compile --target trl` writes), both from the same briefly pretrained
// GPT-2, with the Trainer's sampler replaced by rlhfc's batch order (scripts/dpo-lockstep.ts +
// scripts/dpo_lockstep.py). Every step's loss, gradient norm and learning rate, the held-out loss, rewards
// of chosen and rejected, reward accuracy and margin evaluated along the way, and every weight at the end
// agree. Any difference in the update — the loss, its averaging, the reference, dropout, the optimizer,
// clipping, the schedule, the tokenisation or truncation of the pairs — fails it (a 2% change of beta
// does). And an epoch is the Trainer's: every pair once, ⌈n / batch⌉ steps, the last batch partial (rlhfc
// dropped the remainder before: 12 steps where TRL takes 13 here).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prepareLockstep, type LockstepRun } from '../../scripts/dpo-lockstep.ts';
import { describeInterop, PYTHON, pyJson, ROOT } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-dpo-lockstep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const EVAL_EVERY = 4;
const TRAIN = 200; // 232 records, 32 held out: 12 full batches and one of 8

type Pair = [number | null, number | null];
interface Comparison {
  steps: ({ step: number } & Record<'loss' | 'grad_norm' | 'lr' | 'eval_loss' | 'rewards/chosen' | 'rewards/rejected' | 'reward_accuracy' | 'reward_margin', Pair>)[];
  weights: Record<string, { rel: number; moved: number; diff: number }>;
  trl_steps: number;
  rlhfc_steps: number;
  trl_own_batches_per_epoch: number;
}

describeInterop('interop: rlhfc and TRL take the same DPO steps', () => {
  let c: Comparison;
  let run: LockstepRun;
  beforeAll(() => {
    // 32 held out: two full evaluation batches, so TRL's mean of batch means is the mean over pairs
    run = prepareLockstep(tmp, { limit: TRAIN + 32, validation: 0.138, evalEvery: EVAL_EVERY }, PYTHON);
    c = pyJson<Comparison>(readFileSync(join(ROOT, 'scripts/dpo_lockstep.py'), 'utf8'), { args: [tmp] });
  }, 240_000);

  it('one epoch is the Trainer\'s: every pair once, the last batch partial, as many steps as its dataloader has batches', () => {
    expect(run.trainPairs).toBe(TRAIN);
    expect(run.order.flat().sort((a, b) => a - b)).toEqual([...Array(TRAIN).keys()]);
    expect(run.order.map((b) => b.length)).toEqual([...Array(12).fill(16), 8]);
    expect(c.trl_own_batches_per_epoch).toBe(13);
    expect(c.rlhfc_steps).toBe(c.trl_own_batches_per_epoch);
  });

  it('every step of the parity spec\'s DPO stage on the same batches: losses, gradient norms, rates, held-out rewards and weights agree', () => {
    const STEPS = c.trl_own_batches_per_epoch;
    expect(c.rlhfc_steps).toBe(STEPS);
    expect(c.trl_steps).toBe(STEPS);
    const close = (p: Pair, rel: number, what: string) => {
      const [a, b] = p as [number, number];
      expect(typeof a === 'number' && typeof b === 'number', `${what}: rlhfc ${a}, TRL ${b}`).toBe(true);
      expect(Math.abs(a - b), `${what}: rlhfc ${a}, TRL ${b}`).toBeLessThanOrEqual(rel * Math.max(Math.abs(b), 1e-2));
    };
    for (const s of c.steps) {
      close(s.loss, 1e-4, `loss at step ${s.step}`);
      close(s.grad_norm, 1e-3, `grad norm at step ${s.step}`);
      close(s.lr, 1e-9, `lr at step ${s.step}`);
      if (s.step % EVAL_EVERY !== 0 && s.step !== STEPS) continue; // the last: rlhfc's and the script's final evaluate()
      close(s.eval_loss, 1e-4, `held-out loss after step ${s.step}`);
      for (const k of ['rewards/chosen', 'rewards/rejected', 'reward_margin'] as const) close(s[k], 1e-3, `held-out ${k} after step ${s.step}`);
      expect(s.reward_accuracy[0], `held-out reward accuracy after step ${s.step}`).toBe(s.reward_accuracy[1]);
    }
    // training happened: the held-out loss fell from ln 2 and the rewards of the two answers parted
    const last = c.steps[STEPS - 1];
    expect(c.steps[0].loss[0]).toBeCloseTo(Math.log(2), 5); // policy = reference at the first step
    expect(last.eval_loss[0]!).toBeLessThan(Math.log(2) - 0.03);
    expect(last.reward_margin[0]!).toBeGreaterThan(0.03);
    // every weight (the key bias aside: its gradient is exactly 0 and AdamW turns float noise into lr-sized steps)
    expect(Object.keys(c.weights).length).toBeGreaterThan(10);
    for (const [name, w] of Object.entries(c.weights)) {
      expect(w.rel, `weights of ${name} after ${STEPS} steps`).toBeLessThan(1e-4);
      expect(w.diff, `${name}: the engines' difference against how far it moved`).toBeLessThan(1e-2 * w.moved);
    }
  });
});
