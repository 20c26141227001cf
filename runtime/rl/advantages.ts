// PPO's estimators as pure functions on plain arrays (no gradients flow through them), following
// TRL's classic PPOTrainer (trl 0.4–0.11, `trl/core.py` and `trl/trainer/ppo_trainer.py`:
// `masked_mean`, `masked_var`, `masked_whiten`, `_kl_penalty`, `compute_rewards`,
// `compute_advantages`). KL controllers and score scaling live in ./control.ts (re-exported here).

export { AdaptiveKl, FixedKl, RunningMoments, klControllerFromState, scaleScores } from './control.ts';
export type { KlController, KlControllerState, ScoreScaling } from './control.ts';

/** Masked mean (TRL `masked_mean`); 0 when nothing is selected (TRL would divide by zero). */
export function maskedMean(x: number[], mask?: number[]): number {
  let s = 0;
  let n = 0;
  x.forEach((v, i) => {
    const m = mask ? mask[i] : 1;
    s += v * m;
    n += m;
  });
  return n > 0 ? s / n : 0;
}

/**
 * Masked variance, unbiased (Bessel's correction n/(n−1)) as TRL's `masked_var`. TRL raises on an
 * empty mask and divides by zero for a single element; here both give 0, so whitening a single
 * value yields 0 rather than NaN.
 */
export function maskedVar(x: number[], mask?: number[]): number {
  const mean = maskedMean(x, mask);
  let s = 0;
  let n = 0;
  x.forEach((v, i) => {
    const m = mask ? mask[i] : 1;
    s += (v - mean) * (v - mean) * m;
    n += m;
  });
  if (n <= 1) return 0;
  return (s / n) * (n / (n - 1));
}

/**
 * TRL `masked_whiten`: (x − mean) / sqrt(var + 1e-8) with the masked mean and unbiased variance;
 * with `shiftMean` false the mean is added back. Every entry is transformed (masked ones too), as TRL.
 */
export function whiten(x: number[], mask?: number[], shiftMean = true): number[] {
  const mean = maskedMean(x, mask);
  const std = Math.sqrt(maskedVar(x, mask) + 1e-8);
  return x.map((v) => (v - mean) / std + (shiftMean ? 0 : mean));
}

/** The per-token KL estimators of TRL's `kl_penalty` option ("full" is not supported). */
export const KL_PENALTIES = ['kl', 'abs', 'mse'] as const;
export type KlPenalty = (typeof KL_PENALTIES)[number];

/**
 * Per-token KL estimate from the log-probs of the sampled token under the policy and the reference
 * (TRL `_kl_penalty`): kl = Δ (k1), abs = |Δ|, mse = ½Δ², with Δ = logp − logp_ref.
 */
export function klPerToken(logp: number, logpRef: number, penalty: KlPenalty): number {
  const d = logp - logpRef;
  switch (penalty) {
    case 'kl':
      return d;
    case 'abs':
      return Math.abs(d);
    case 'mse':
      return 0.5 * d * d;
    default:
      throw new Error(`unknown KL penalty '${String(penalty)}' (expected one of ${KL_PENALTIES.join(', ')})`);
  }
}

export interface TokenRewards {
  /** Per-token rewards: −β·kl, plus the score at the last response token. */
  rewards: number[][];
  /** Per-token −β·kl alone (TRL's `non_score_reward`). */
  nonScore: number[][];
  /** Per-token kl estimates (0 on masked positions). */
  kl: number[][];
}

/**
 * Per-token rewards for a batch of responses, as TRL `compute_rewards`: reward = −β·kl per token, and
 * the scalar score added at the last position where the mask is 1. `logprobs[b][t]`,
 * `refLogprobs[b][t]` are log-probs of the response tokens; `masks[b][t]` is 1 for real response
 * tokens. Unlike TRL the kl is zeroed on masked positions here (TRL zeroes them later, in
 * `compute_advantages`); a row with an empty mask gets no score.
 */
export function computeRewards(
  scores: number[],
  logprobs: number[][],
  refLogprobs: number[][],
  masks: number[][],
  beta: number,
  penalty: KlPenalty = 'kl',
): TokenRewards {
  const rewards: number[][] = [];
  const nonScore: number[][] = [];
  const kl: number[][] = [];
  for (let b = 0; b < scores.length; b++) {
    const k = logprobs[b].map((lp, t) => klPerToken(lp, refLogprobs[b][t], penalty) * masks[b][t]);
    const ns = k.map((v) => -beta * v);
    const r = [...ns];
    let last = -1;
    masks[b].forEach((m, t) => {
      if (m > 0) last = t;
    });
    if (last >= 0) r[last] += scores[b];
    rewards.push(r);
    nonScore.push(ns);
    kl.push(k);
  }
  return { rewards, nonScore, kl };
}

/**
 * Generalised advantage estimation over one response (the reverse loop of TRL
 * `compute_advantages`): δ_t = r_t + γ·V_{t+1} − V_t, A_t = δ_t + γλ·A_{t+1} (`lastgaelam`),
 * returns = A + V, with V and A zero past the end; values and rewards are multiplied by the mask
 * first. Not whitened: see `computeAdvantages` for the batch version that whitens as TRL.
 */
export function gae(values: number[], rewards: number[], gamma: number, lambda: number, mask?: number[]): { advantages: number[]; returns: number[] } {
  const T = values.length;
  const v = values.map((x, t) => x * (mask ? mask[t] : 1));
  const r = rewards.map((x, t) => x * (mask ? mask[t] : 1));
  const adv = new Array<number>(T).fill(0);
  let last = 0;
  for (let t = T - 1; t >= 0; t--) {
    const next = t < T - 1 ? v[t + 1] : 0;
    const delta = r[t] + gamma * next - v[t];
    last = delta + gamma * lambda * last;
    adv[t] = last;
  }
  return { advantages: adv, returns: adv.map((a, t) => a + v[t]) };
}

/**
 * TRL `compute_advantages` for a batch [B][T]: GAE per row, returns = A + V, then advantages
 * whitened over every masked token of the batch (`masked_whiten`). Rows may have different lengths.
 */
export function computeAdvantages(
  values: number[][],
  rewards: number[][],
  masks: number[][],
  gamma: number,
  lambda: number,
): { advantages: number[][]; returns: number[][] } {
  const per = values.map((v, b) => gae(v, rewards[b], gamma, lambda, masks[b]));
  const flat = whiten(per.flatMap((p) => p.advantages), masks.flat());
  let k = 0;
  return { advantages: per.map((p) => p.advantages.map(() => flat[k++])), returns: per.map((p) => p.returns) };
}
