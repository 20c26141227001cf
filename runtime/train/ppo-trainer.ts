// PPO on the one on-policy loop (train/on-policy.ts), following TRL's classic PPOTrainer: one answer
// per prompt scored by a reward model or a judge (scores optionally scaled and clipped) → per-token
// rewards with the KL penalty of the controller's β → GAE over the value head's estimates →
// ppo_epochs passes of shuffled mini-batches with the clipped policy and value losses (an epoch
// early-stopped past kl.stop_at) → the KL controller's update. What PPO alone has is here; the
// prompts, rollouts, reference, mini-batches, resume and logging are the loop's.

import * as tf from '@tensorflow/tfjs';
import {
  AdaptiveKl,
  FixedKl,
  RunningMoments,
  computeAdvantages,
  computeRewards,
  klControllerFromState,
  maskedMean,
  scaleScores,
  whiten,
  type KlController,
} from '../rl/advantages.ts';
import { ppoLoss } from '../rl/losses.ts';
import type { StageContext, StageOutcome } from '../stage-context.ts';
import { runOnPolicy, type OnPolicyParams, type RolloutLogProbs } from './on-policy.ts';
import type { PpoConfig } from './ppo-config.ts';
import type { Rollout } from './rollouts.ts';

/** The parameters PPO reads (see the ppo schema). */
export interface PpoParams extends OnPolicyParams, PpoConfig {
  ppo_epochs: number;
}

/** What PPO computes once per generation batch. */
interface PpoStep {
  /** Scores after scaling/clipping; rawMean before. */
  scores: number[];
  rawMean: number;
  /** The β the rewards were penalised with. */
  beta: number;
  lp: RolloutLogProbs;
  /** Advantages and returns per token [B * T] (0 off the responses). */
  adv: Float32Array;
  ret: Float32Array;
  /** Per-token KL and non-score rewards of each row's response tokens. */
  kl: number[][];
  nonScore: number[][];
}

const sum = (xs: number[]) => xs.reduce((u, v) => u + v, 0);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : NaN);

export function runPpo(ctx: StageContext, p: PpoParams): Promise<StageOutcome> {
  const kl = p.kl;
  let ctl: KlController = kl.adaptive ? new AdaptiveKl(kl.init, kl.target, kl.horizon) : new FixedKl(kl.init);
  const moments = new RunningMoments();
  return runOnPolicy(ctx, p, {
    answersPerPrompt: 1,
    rewardInputs: ['reward'],
    maskTruncated: false,
    valueHead: true,
    reference: true,
    passes: p.ppo_epochs,
    // The schedule runs over PPO steps: every mini-batch update of step i uses the rate of step i
    // (TRL steps its scheduler once per batch).
    scheduleSteps: p.steps,
    updateIndex: (step) => step,
    main: 'score',
    describe: (scorers) => `${p.batch_size}; judge: ${scorers[0].name}`,
    prepare: (ro, lp): PpoStep => {
      const raw = ro.perSource[0];
      // length shaping (runtime/rl/length.ts) is added to each score before scaling and clipping
      const shaped = raw.map((x, i) => x + ro.lengthRewards[i]);
      const scores = scaleScores(shaped, moments, { scaling: p.score.scaling, clip: p.score.clip });
      const beta = ctl.value;
      return { scores, rawMean: maskedMean(raw), beta, lp, ...advantages(p, ro, lp, scores, beta) };
    },
    loss: (m, s) => {
      const { logProbs, entropy } = m.policy.logProbsAndEntropyFrom(m.hidden, m.targets);
      const loss = ppoLoss({
        oldLogprobs: m.rows(s.lp.old),
        logprobs: logProbs,
        oldValues: m.rows(s.lp.values!),
        values: m.policy.valuesFrom(m.hidden),
        advantages: m.rows(s.adv),
        returns: m.rows(s.ret),
        mask: m.mask,
        cliprange: p.cliprange,
        cliprangeValue: p.cliprange_value,
        vfCoef: p.vf_coef,
        tokenEntropy: entropy,
        entCoef: p.entropy_coef,
      });
      return { loss: loss.loss, log: { pg_loss: loss.pgLoss, vf_loss: loss.vfLoss, clipfrac: loss.clipFrac, approx_kl: loss.approxKl, entropy: loss.entropy! } };
    },
    stopAfterPass: (logged) => kl.stop_at > 0 && logged['approx_kl'] > kl.stop_at,
    finish: (ro, s, stats) => {
      const meanKl = maskedMean(s.kl.map(sum));
      ctl.update(meanKl, p.batch_size);
      return {
        score: s.rawMean,
        kl: meanKl,
        beta: s.beta,
        non_score_reward: maskedMean(s.nonScore.map(sum)),
        ...stats,
        response_len: mean(ro.responseIds.map((x) => x.length)),
      };
    },
    sampleNote: (_ro, s, i) => `(score ${s.scores[i].toFixed(3)})`,
    // Resume: the KL controller and the score moments come back through the loop's checkpoint state.
    state: () => ({ ctl: ctl.state(), moments: moments.state() }),
    restore: (e) => {
      ctl = klControllerFromState(e.ctl);
      moments.load(e.moments);
    },
    outcome: (first, last) => ({
      metrics: { ...last, first_score: first?.['score'] ?? NaN, final_beta: ctl.value },
      headline: `mean score ${(first?.['score'] ?? NaN).toFixed(3)} → ${(last['score'] ?? NaN).toFixed(3)}, KL ${(last['kl'] ?? NaN).toFixed(3)}, β ${ctl.value.toFixed(4)}`,
    }),
  });
}

/** Per-token rewards with the KL penalty (β), optionally whitened, then GAE: advantages and returns as [B*T]. */
function advantages(p: PpoParams, ro: Rollout, lp: RolloutLogProbs, scores: number[], beta: number) {
  const { B, T, targetsMask } = ro.batch;
  // Per row: flat positions [b*T + t] of its response tokens.
  const pos = Array.from({ length: B }, (_, b) => {
    const out: number[] = [];
    for (let t = 0; t < T; t++) if (targetsMask[b * T + t] > 0) out.push(b * T + t);
    return out;
  });
  const at = (xs: Float32Array) => pos.map((ps) => ps.map((i) => xs[i]));
  const masks = pos.map((ps) => ps.map(() => 1));
  const rw = computeRewards(scores, at(lp.old), at(lp.ref!), masks, beta, p.kl.penalty);
  // TRL: whiten_rewards whitens over the batch's response tokens without shifting the mean.
  let tokenRewards = rw.rewards;
  if (p.whiten_rewards) {
    const flat = whiten(rw.rewards.flat(), masks.flat(), false);
    let k = 0;
    tokenRewards = rw.rewards.map((x) => x.map(() => flat[k++]));
  }
  const { advantages: advs, returns } = computeAdvantages(at(lp.values!), tokenRewards, masks, p.gamma, p.lam);
  const adv = new Float32Array(B * T);
  const ret = new Float32Array(B * T);
  pos.forEach((ps, b) => ps.forEach((i, j) => ((adv[i] = advs[b][j]), (ret[i] = returns[b][j]))));
  return { adv, ret, kl: rw.kl, nonScore: rw.nonScore };
}
