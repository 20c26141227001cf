// What the value-free on-policy stages share (grpo, rloo) on top of the one on-policy loop
// (train/on-policy.ts): batch_size / k prompts answered k times each per step, several weighted
// reward sources, the reference only when the KL term is on, num_iterations passes, and the group
// statistics in the log. The stage supplies only what makes it itself: how rewards become
// advantages, and the loss of a mini-batch.

import * as tf from '@tensorflow/tfjs';
import type { StageContext, StageOutcome } from '../stage-context.ts';
import { runOnPolicy, type OnPolicyParams } from './on-policy.ts';
import { summary, type Rollout } from './rollouts.ts';

/** The parameters every group-RL stage has (see the grpo and rloo schemas). */
export interface GroupParams extends OnPolicyParams {
  num_generations: number;
  num_iterations: number;
  beta: number;
  reward_weights: number[];
  mask_truncated_completions: boolean;
}

/** What the stage computes once per generation batch. */
export interface Prepared {
  advantages: number[];
  /** Per completion: its group's rewards had no spread (it teaches nothing). */
  stdIsZero: boolean[];
  /** Extra numbers for the step's log line. */
  log?: Record<string, number>;
}

/** A mini-batch as tensors (rows `idx` of the generation batch); the loss returns scalars to log. */
export interface MiniBatch {
  /** Per-token log-probs under the policy being trained [n, T] (with gradient). */
  logps: tf.Tensor2D;
  /** Under the sampling policy and the reference (no gradient) [n, T]. */
  oldLogps: tf.Tensor2D;
  refLogps?: tf.Tensor2D;
  /** Response tokens that count [n, T]. */
  mask: tf.Tensor2D;
  advantages: tf.Tensor1D;
  /** Response tokens of the whole generation batch, and the number of updates it is split into. */
  tokensInBatch: number;
  updates: number;
}

export interface GroupAlgorithm {
  /** Turn the rollout's rewards into advantages (old/ref log-probs are per token [B, T], flat). */
  prepare(ro: Rollout, oldLp: Float32Array, refLp: Float32Array | undefined): Prepared;
  /** The loss of a mini-batch (run inside the gradient tape), and the scalars to log for it. */
  loss(m: MiniBatch): { loss: tf.Scalar; log: Record<string, tf.Scalar> };
}

interface GroupStep {
  prep: Prepared;
  advantages: Float32Array;
  oldLp: Float32Array;
  refLp?: Float32Array;
  tokensInBatch: number;
}

export async function runGroupRL(ctx: StageContext, p: GroupParams, algo: GroupAlgorithm): Promise<StageOutcome> {
  const k = p.num_generations;
  const updates = p.batch_size / p.mini_batch_size;
  const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const rewardInputs = Object.keys(ctx.inputs)
    .filter((key) => key.startsWith('rewards['))
    .sort((a, b) => Number(a.slice(8, -1)) - Number(b.slice(8, -1)));
  const names = rewardInputs.map((_, i) => `rewards/${i}`);
  return runOnPolicy(ctx, p, {
    answersPerPrompt: k,
    rewardInputs,
    weights: p.reward_weights.length ? p.reward_weights : undefined,
    maskTruncated: p.mask_truncated_completions,
    valueHead: false,
    reference: p.beta > 0,
    passes: p.num_iterations,
    scheduleSteps: p.steps * updates * p.num_iterations,
    updateIndex: (step, it, u) => (step * p.num_iterations + it) * updates + u,
    main: 'reward',
    describe: (scorers) => `${p.batch_size / k} prompts × ${k} answers; ${scorers.map((s, i) => `${names[i]} = ${s.name}`).join(', ')}`,
    prepare: (ro, lp): GroupStep => {
      const prep = algo.prepare(ro, lp.old, lp.ref);
      return { prep, advantages: Float32Array.from(prep.advantages), oldLp: lp.old, refLp: lp.ref, tokensInBatch: ro.tokens.reduce((a, b) => a + b, 0) };
    },
    loss: (m, s) =>
      algo.loss({
        logps: m.policy.logProbsFrom(m.hidden, m.targets),
        oldLogps: m.rows(s.oldLp),
        refLogps: s.refLp ? m.rows(s.refLp) : undefined,
        mask: m.mask,
        advantages: tf.tensor1d(m.idx.map((i) => s.advantages[i])),
        tokensInBatch: s.tokensInBatch,
        updates,
      }),
    // Rewards (total, per source, group spread), advantages, the losses' scalars, the answers.
    finish: (ro, { prep }, stats) => {
      const rs = summary(ro.rewards.filter((r) => !Number.isNaN(r)));
      const as = summary(prep.advantages);
      return {
        reward: rs.mean,
        reward_std: rs.std,
        ...Object.fromEntries(names.map((nm, j) => [nm, avg(ro.perSource[j].filter((x) => !Number.isNaN(x)))])),
        frac_reward_zero_std: avg(prep.stdIsZero.map((z) => (z ? 1 : 0))),
        advantage_mean: as.mean,
        advantage_std: as.std,
        advantage_min: as.min,
        advantage_max: as.max,
        ...prep.log,
        ...stats,
        completion_len: avg(ro.responseIds.map((r) => r.length)),
        truncated_ratio: avg(ro.truncated.map((t) => (t ? 1 : 0))),
      };
    },
    sampleNote: (ro, { prep }, i) => `(reward ${ro.rewards[i].toFixed(3)}, advantage ${prep.advantages[i].toFixed(2)})`,
    // No state beyond the loop's own (the first and last metrics).
    state: () => ({}),
    restore: () => {},
    outcome: (first, last) => ({
      metrics: { ...last, first_reward: first?.['reward'] ?? Number.NaN },
      headline: `mean reward ${(first?.['reward'] ?? Number.NaN).toFixed(3)} → ${(last['reward'] ?? Number.NaN).toFixed(3)}${p.beta > 0 ? `, KL ${(last['kl'] ?? Number.NaN).toFixed(3)}` : ''}, ${k} answers per prompt`,
    }),
  });
}
