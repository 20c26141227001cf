// The group-relative family (GRPO, RLOO) and KTO: rewards and advantages as pure functions of plain
// numbers, losses as functions of tensors. Each follows TRL 1.13 (the version the export targets),
// named in its comment, and is tested against hand-computed values and TRL's own code on the same
// inputs (tests/runtime/rl-group.test.ts, the interop suite).
//
// Layout of a batch: prompts × generations, generations of one prompt next to each other
// (completion i belongs to prompt ⌊i / k⌋), as TRL's `repeat_interleave`.

import * as tf from '@tensorflow/tfjs';

/** A reward that could not be computed (a reward source returned nothing): NaN, as TRL's None. */
export const UNSCORED = Number.NaN;

function nanMean(xs: number[]): number {
  let s = 0;
  let n = 0;
  for (const x of xs) {
    if (Number.isNaN(x)) continue;
    s += x;
    n++;
  }
  return n ? s / n : Number.NaN;
}

/** Standard deviation ignoring NaNs, with Bessel's correction; NaN for fewer than two values (TRL `nanstd`). */
export function nanStd(xs: number[]): number {
  const m = nanMean(xs);
  let s = 0;
  let n = 0;
  for (const x of xs) {
    if (Number.isNaN(x)) continue;
    s += (x - m) ** 2;
    n++;
  }
  return n > 1 ? Math.sqrt(s / (n - 1)) : Number.NaN;
}

function groups(xs: number[], k: number): number[][] {
  if (!(Number.isInteger(k) && k >= 1) || xs.length % k !== 0) throw new Error(`a batch of ${xs.length} completions is not whole groups of ${k}`);
  return Array.from({ length: xs.length / k }, (_, g) => xs.slice(g * k, g * k + k));
}

/**
 * The reward of each completion from several reward sources: Σ_j w_j r_ij over the sources that
 * scored it; NaN (unscorable) when none did. TRL 1.13 `_calculate_rewards` + `nansum` with
 * `reward_weights` (sum_then_normalize). `perSource[j][i]` is source j's reward of completion i.
 */
export function weightedRewards(perSource: number[][], weights?: number[]): number[] {
  if (!perSource.length) throw new Error('at least one reward source is needed');
  const w = weights ?? perSource.map(() => 1);
  if (w.length !== perSource.length) throw new Error(`${w.length} reward weights for ${perSource.length} reward sources`);
  const n = perSource[0].length;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    let scored = false;
    perSource.forEach((r, j) => {
      if (Number.isNaN(r[i])) return;
      s += w[j] * r[i];
      scored = true;
    });
    return scored ? s : Number.NaN;
  });
}

export const SCALE_REWARDS = ['group', 'batch', 'none'] as const;
export type ScaleRewards = (typeof SCALE_REWARDS)[number];

export interface GroupAdvantages {
  advantages: number[];
  /** Per completion: the std its advantage was divided by (or would have been, with `none`) is 0 — a group that taught nothing. */
  stdIsZero: boolean[];
}

/**
 * GRPO advantages (TRL 1.13 `GRPOTrainer._generate_and_score_completions`, sum_then_normalize):
 * A_i = (r_i − mean of its group) / (std + 1e-4), the std taken over the group (`group`), over the
 * whole batch (`batch`), or not divided (`none`, Dr. GRPO). NaN rewards are left out of the means;
 * their advantage is 0.
 */
export function grpoAdvantages(rewards: number[], k: number, scale: ScaleRewards = 'group'): GroupAdvantages {
  const gs = groups(rewards, k);
  const means = gs.flatMap((g) => g.map(() => nanMean(g)));
  let stds: number[];
  if (scale === 'batch') {
    const s = rewards.length > 1 ? nanStd(rewards) : 0;
    stds = rewards.map(() => s);
  } else stds = gs.flatMap((g) => g.map(() => (k > 1 ? nanStd(g) : 0)));
  const advantages = rewards.map((r, i) => {
    let a = r - means[i];
    if (scale !== 'none') a /= stds[i] + 1e-4;
    return Number.isNaN(a) ? 0 : a;
  });
  return { advantages, stdIsZero: stds.map((s) => Math.abs(s) <= 1e-8) };
}

/**
 * RLOO advantages (TRL 1.13 `RLOOTrainer`): the reward less the KL penalty β·Σ_t (log π_old − log π_ref)
 * (summed over the completion's tokens, given per completion as `klSums`), minus the mean of the
 * other scored completions of the same prompt (leave-one-out baseline); optionally normalised over
 * the batch to mean 0, std 1 (`normalize_advantages`). Unscorable completions and groups with a single
 * scored completion get 0.
 */
export function rlooAdvantages(rewards: number[], k: number, opts: { beta?: number; klSums?: number[]; normalize?: boolean } = {}): GroupAdvantages {
  const beta = opts.beta ?? 0;
  const r = beta !== 0 ? rewards.map((x, i) => x - beta * (opts.klSums?.[i] ?? Number.NaN)) : rewards.slice();
  const gs = groups(r, k);
  let advantages = gs.flatMap((g) => {
    if (k === 1) return g.map(() => 0);
    const scored = g.filter((x) => !Number.isNaN(x));
    const sum = scored.reduce((s, x) => s + x, 0);
    return g.map((x) => x - (sum - x) / (scored.length - 1));
  });
  if (opts.normalize) {
    const m = nanMean(advantages);
    const s = nanStd(advantages);
    advantages = advantages.map((a) => (a - m) / (s + 1e-4));
  }
  const stds = gs.flatMap((g) => g.map(() => (k > 1 ? nanStd(g) : 0)));
  return { advantages: advantages.map((a) => (Number.isFinite(a) ? a : 0)), stdIsZero: stds.map((s) => Math.abs(s) <= 1e-8) };
}

export const GRPO_LOSS_TYPES = ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const;
export type GrpoLossType = (typeof GRPO_LOSS_TYPES)[number];

export interface GrpoInputs {
  /** Per-token log-probs of the completions under the policy being trained [B, T]. */
  logps: tf.Tensor2D;
  /** The same under the policy that sampled them (no gradient) [B, T]; equal to `logps` on the first iteration. */
  oldLogps: tf.Tensor2D;
  /** The same under the frozen reference [B, T]; needed when β > 0. */
  refLogps?: tf.Tensor2D;
  /** 1 for completion tokens that count, 0 for padding (and for truncated completions when masked) [B, T]. */
  mask: tf.Tensor2D;
  /** One advantage per completion [B]. */
  advantages: tf.Tensor1D;
}

export interface GrpoOptions {
  beta: number;
  epsilon: number;
  /** Upper clip (clip-higher, DAPO); defaults to `epsilon`. */
  epsilonHigh?: number;
  lossType: GrpoLossType;
  /** The completion length cap, for `dr_grpo`'s constant normaliser. */
  maxCompletionLength: number;
  /**
   * For `dapo`: the normaliser, TRL's completion tokens of the whole generation batch divided by the
   * optimizer updates it is split into (default: this micro-batch's tokens).
   */
  tokensInBatch?: number;
  /**
   * TRL 1.13's `use_bias_correction_kl` (its default: true): the per-token KL term is multiplied by
   * the importance ratio ρ, making its gradient the unbiased reverse-KL gradient (DeepSeek-V3.2).
   * The logged KL stays the plain k3 estimate. Default here: false.
   */
  biasCorrectedKl?: boolean;
}

/**
 * The GRPO loss of TRL 1.13 `GRPOTrainer._compute_loss` (token-level importance sampling, no
 * gradient accumulation): ρ = exp(log π − log π_old), per-token loss −min(ρA, clip(ρ, 1−ε, 1+ε_high)A)
 * + β·KL, with KL the k3 estimator exp(ref − log π) − (ref − log π) − 1; aggregated as
 *   grpo:    mean over sequences of (Σ_t loss·mask / Σ_t mask)
 *   bnpo:    Σ loss·mask / Σ mask   (over the batch)
 *   dr_grpo: Σ loss·mask / (B · max_completion_length)
 *   dapo:    Σ loss·mask / (tokens in the generation batch / its updates).
 * Also returns the masked mean KL and the clipped fractions, as TRL logs them.
 */
export function grpoLoss(x: GrpoInputs, o: GrpoOptions) {
  const epsHigh = o.epsilonHigh ?? o.epsilon;
  return tf.tidy(() => {
    const adv = tf.expandDims(x.advantages, 1);
    const ratio = tf.exp(tf.sub(x.logps, x.oldLogps));
    const clipped = tf.clipByValue(ratio, 1 - o.epsilon, 1 + epsHigh);
    let perToken: tf.Tensor = tf.neg(tf.minimum(tf.mul(ratio, adv), tf.mul(clipped, adv)));
    const tokens = tf.maximum(tf.sum(x.mask), 1);
    let kl: tf.Scalar = tf.scalar(0);
    if (o.beta !== 0) {
      if (!x.refLogps) throw new Error('GRPO with beta > 0 needs the reference log-probs');
      const d = tf.sub(x.refLogps, x.logps);
      const perTokenKl = tf.sub(tf.sub(tf.exp(d), d), 1);
      perToken = tf.add(perToken, tf.mul(o.beta, o.biasCorrectedKl ? tf.mul(perTokenKl, ratio) : perTokenKl));
      kl = tf.div(tf.sum(tf.mul(perTokenKl, x.mask)), tokens) as tf.Scalar;
    }
    const masked = tf.mul(perToken, x.mask);
    let loss: tf.Scalar;
    if (o.lossType === 'grpo') loss = tf.mean(tf.div(tf.sum(masked, -1), tf.maximum(tf.sum(x.mask, -1), 1))) as tf.Scalar;
    else if (o.lossType === 'bnpo') loss = tf.div(tf.sum(masked), tokens) as tf.Scalar;
    else if (o.lossType === 'dr_grpo') loss = tf.div(tf.sum(masked), x.mask.shape[0] * o.maxCompletionLength) as tf.Scalar;
    else loss = tf.div(tf.sum(masked), Math.max(o.tokensInBatch ?? 0, 0) || tokens) as tf.Scalar;
    const low = tf.logicalAnd(tf.less(ratio, 1 - o.epsilon), tf.less(adv, 0));
    const high = tf.logicalAnd(tf.greater(ratio, 1 + epsHigh), tf.greater(adv, 0));
    const frac = (b: tf.Tensor) => tf.div(tf.sum(tf.mul(tf.cast(b, 'float32'), x.mask)), tokens) as tf.Scalar;
    return { loss, kl, clipLow: frac(low), clipHigh: frac(high), clipRegion: frac(tf.logicalOr(low, high)) };
  });
}

/**
 * The RLOO loss of TRL 1.13 `RLOOTrainer._compute_loss`: sequence-level ratio ρ = exp(Σ_t log π −
 * old sequence log-prob), loss mean(−min(ρA, clip(ρ, 1−ε, 1+ε_high)A)). `logps` and `mask` are
 * per token [B, T]; `oldSeqLogps` the sampler's summed log-probs [B].
 */
export function rlooLoss(x: { logps: tf.Tensor2D; mask: tf.Tensor2D; oldSeqLogps: tf.Tensor1D; advantages: tf.Tensor1D }, epsilon: number, epsilonHigh?: number) {
  const epsHigh = epsilonHigh ?? epsilon;
  return tf.tidy(() => {
    const seq = tf.sum(tf.mul(x.logps, x.mask), -1);
    const ratio = tf.exp(tf.sub(seq, x.oldSeqLogps));
    const clipped = tf.clipByValue(ratio, 1 - epsilon, 1 + epsHigh);
    const loss = tf.mean(tf.neg(tf.minimum(tf.mul(ratio, x.advantages), tf.mul(clipped, x.advantages)))) as tf.Scalar;
    const low = tf.logicalAnd(tf.less(ratio, 1 - epsilon), tf.less(x.advantages, 0));
    const high = tf.logicalAnd(tf.greater(ratio, 1 + epsHigh), tf.greater(x.advantages, 0));
    return { loss, clipRegion: tf.mean(tf.cast(tf.logicalOr(low, high), 'float32')) as tf.Scalar };
  });
}

export interface KtoInputs {
  /** Summed completion log-probs under the policy [B] and the reference [B]. */
  logps: tf.Tensor1D;
  refLogps: tf.Tensor1D;
  /** 1 = desirable (thumbs up), 0 = undesirable [B]. */
  labels: tf.Tensor1D;
  /** The KL reference point z₀ (≥ 0, no gradient): TRL estimates it from mismatched prompt/completion pairs. */
  kl: number;
}

/**
 * The KTO loss of TRL 1.13 `KTOTrainer.kto_loss` (loss_type `kto`): with h = log π − log π_ref,
 *   desirable:   w_d · (1 − σ(β(h − z₀)))      undesirable: w_u · (1 − σ(β(z₀ − h)))
 * and the loss is the mean over the batch's examples. Rewards β·h are returned per class for logging.
 */
export function ktoLoss(x: KtoInputs, o: { beta: number; desirableWeight?: number; undesirableWeight?: number }) {
  if (!(o.beta > 0)) throw new Error(`KTO beta must be > 0 (got ${o.beta})`);
  const wd = o.desirableWeight ?? 1;
  const wu = o.undesirableWeight ?? 1;
  const z0 = Math.max(0, x.kl);
  return tf.tidy(() => {
    const h = tf.sub(x.logps, x.refLogps);
    const chosen = tf.mul(wd, tf.sub(1, tf.sigmoid(tf.mul(o.beta, tf.sub(h, z0)))));
    const rejected = tf.mul(wu, tf.sub(1, tf.sigmoid(tf.mul(o.beta, tf.sub(z0, h)))));
    const losses = tf.where(tf.greater(x.labels, 0.5), chosen, rejected);
    return { loss: tf.mean(losses) as tf.Scalar, rewards: tf.mul(o.beta, h) as tf.Tensor1D };
  });
}

/**
 * KTO's reference point z₀ (TRL 1.13): the batch mean of log π − log π_ref over mismatched
 * prompt/completion pairs (each prompt with the previous example's completion), clamped at 0.
 */
export function ktoReferencePoint(mismatchedLogps: number[], mismatchedRefLogps: number[]): number {
  if (!mismatchedLogps.length) return 0;
  const d = mismatchedLogps.reduce((s, x, i) => s + x - mismatchedRefLogps[i], 0) / mismatchedLogps.length;
  return Math.max(0, d);
}
