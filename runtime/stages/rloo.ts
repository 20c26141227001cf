// Stage `rloo`: REINFORCE Leave-One-Out, following TRL 1.13's RLOOTrainer: no value model; each
// prompt is answered num_generations times and each answer's advantage is its reward (less β times
// its summed KL to the starting policy) minus the mean reward of the other answers to the same
// prompt; a clipped sequence-level importance ratio.

import { bool, float, stageSchema } from '../../core/schema.ts';
import { groupRLParams, groupRules, samplingRules } from './common.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'rloo',
  doc: 'RL fine-tuning with RLOO (leave-one-out baselines, no value model) against one or more reward sources.',
  params: {
    ...groupRLParams({ generations: 4, generationsDoc: 'Answers per prompt (k): the baseline of each is the mean of the other k − 1.' }),
    beta: float('KL penalty taken off each answer\'s reward: β · Σ_t (log π_old − log π_ref); 0 loads no reference model.', 0.05, 0),
    epsilon: float('Lower clip of the sequence-level importance ratio: 1 − ε.', 0.2, 0, 1, { minExclusive: true }),
    epsilon_high: float('Upper clip of the ratio, 1 + ε_high; 0: the same as epsilon.', 0, 0),
    normalize_advantages: bool('Normalise the batch\'s advantages to mean 0 and standard deviation 1.', false),
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => [...samplingRules(p, ctx, 'policy'), ...groupRules(p, ctx)],
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------
// The shared group-RL loop (runtime/train/group-rl.ts) with RLOO's two pieces: leave-one-out
// advantages of KL-penalised rewards, and the clipped sequence-level loss.

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { runGroupRL } = await import('../train/group-rl.ts');
  const { rlooAdvantages, rlooLoss } = await import('../rl/group.ts');
  const tf = await import('@tensorflow/tfjs');
  const p = ctx.params;
  return runGroupRL(ctx, p, {
    prepare: (ro, oldLp, refLp) => {
      const { T, targetsMask } = ro.batch;
      // β · Σ_t (log π_old − log π_ref) over each answer's counted tokens (TRL: first-order estimate)
      const klSums = ro.rewards.map((_, b) => {
        let s = 0;
        if (refLp) for (let t = 0; t < T; t++) s += targetsMask[b * T + t] * (oldLp[b * T + t] - refLp[b * T + t]);
        return s;
      });
      const a = rlooAdvantages(ro.rewards, p.num_generations, { beta: p.beta, klSums, normalize: p.normalize_advantages });
      const log: Record<string, number> = p.beta > 0 ? { kl: klSums.reduce((x, y) => x + y, 0) / klSums.length } : {};
      return { ...a, log };
    },
    loss: (m) => {
      const oldSeqLogps = tf.sum(tf.mul(m.oldLogps, m.mask), -1) as import('@tensorflow/tfjs').Tensor1D;
      const r = rlooLoss({ logps: m.logps, mask: m.mask, oldSeqLogps, advantages: m.advantages }, p.epsilon, p.epsilon_high > 0 ? p.epsilon_high : p.epsilon);
      return { loss: r.loss, log: { loss: r.loss, clip_ratio: r.clipRegion } };
    },
  });
}
