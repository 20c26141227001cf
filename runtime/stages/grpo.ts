// Stage `grpo`: Group Relative Policy Optimization, following TRL 1.13's GRPOTrainer: no value
// model; each prompt is answered num_generations times, the answers are scored by one or more reward
// sources (rule judges, reward models, user functions that verify), and each answer's advantage is
// its reward against its group's; a clipped token-level loss with an optional k3 KL to the frozen
// starting policy.

import { bool, float, stageSchema, str } from '../../core/schema.ts';
import { groupRLParams, groupRules, samplingRules } from './common.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'grpo',
  doc: 'RL fine-tuning with GRPO (group-relative advantages, no value model) against one or more reward sources.',
  params: {
    ...groupRLParams({ generations: 8, generationsDoc: 'Answers per prompt (the group size G).' }),
    beta: float('Weight of the KL to the reference (k3 estimator); 0 loads no reference model.', 0.0, 0),
    epsilon: float('Lower clip of the importance ratio: 1 − ε.', 0.2, 0, 1, { minExclusive: true }),
    epsilon_high: float('Upper clip of the importance ratio, 1 + ε_high (clip-higher, DAPO); 0: the same as epsilon.', 0, 0),
    loss_type: str('How token losses are averaged: per sequence then batch (grpo), over the batch\'s tokens (bnpo), by batch × max length (dr_grpo), over the generation batch\'s tokens (dapo).', 'dapo', ['grpo', 'bnpo', 'dr_grpo', 'dapo']),
    scale_rewards: str('Divide advantages by the reward std of the group, of the batch, or not at all.', 'group', ['group', 'batch', 'none']),
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => [...samplingRules(p, ctx, 'policy'), ...groupRules(p, ctx)],
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------
// The shared group-RL loop (runtime/train/group-rl.ts) with GRPO's two pieces: advantages centred
// (and scaled) within each prompt's group, and the clipped token-level loss with the k3 KL.

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { runGroupRL } = await import('../train/group-rl.ts');
  const { grpoAdvantages, grpoLoss } = await import('../rl/group.ts');
  const p = ctx.params;
  const epsHigh = p.epsilon_high > 0 ? p.epsilon_high : p.epsilon;
  return runGroupRL(ctx, p, {
    prepare: (ro) => grpoAdvantages(ro.rewards, p.num_generations, p.scale_rewards),
    loss: (m) => {
      const r = grpoLoss(m, {
        beta: p.beta,
        epsilon: p.epsilon,
        epsilonHigh: epsHigh,
        lossType: p.loss_type,
        maxCompletionLength: p.generation.max_new_tokens,
        // TRL 1.13's default use_bias_correction_kl: the KL term weighted by the importance ratio
        biasCorrectedKl: true,
        // dapo: TRL's num_items_in_batch (the generation batch's tokens) per optimizer update
        tokensInBatch: m.tokensInBatch / m.updates,
      });
      return { loss: r.loss, log: { loss: r.loss, kl: r.kl, clip_ratio_low: r.clipLow, clip_ratio_high: r.clipHigh, clip_ratio: r.clipRegion } };
    },
  });
}
