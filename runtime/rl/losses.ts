// Differentiable losses of the preference and RL stages, as functions of tensors. Each mirrors a
// reference implementation, named in its comment, and is tested against hand-computed values and
// finite differences (tests/runtime/rl.test.ts). Every function runs in tf.tidy: only the returned
// tensors survive, and the caller disposes them.

import * as tf from '@tensorflow/tfjs';

/** Masked mean of `x` over `mask` (same shape); 0 when the mask is empty. */
export function maskedMeanT(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1e-8)) as tf.Scalar);
}

/**
 * Reward-model loss (InstructGPT; TRL RewardTrainer): mean(−log σ(r_c − r_r − margin))
 * + c · mean((r_c + r_r)²). −log σ(z) is computed as softplus(−z) for stability.
 */
export function pairwiseRewardLoss(rChosen: tf.Tensor1D, rRejected: tf.Tensor1D, margin?: tf.Tensor1D, centering = 0): tf.Scalar {
  return tf.tidy(() => {
    let z = tf.sub(rChosen, rRejected);
    if (margin) z = tf.sub(z, margin);
    let loss = tf.mean(tf.softplus(tf.neg(z)));
    if (centering > 0) loss = tf.add(loss, tf.mul(centering, tf.mean(tf.square(tf.add(rChosen, rRejected)))));
    return loss as tf.Scalar;
  });
}

/**
 * Metrics of a batch of reward pairs (TRL RewardTrainer logs): accuracy = mean(r_c > r_r) and
 * margin = mean(r_c − r_r).
 */
export function pairwiseRewardMetrics(rChosen: tf.Tensor1D, rRejected: tf.Tensor1D): { accuracy: tf.Scalar; margin: tf.Scalar } {
  return tf.tidy(() => {
    const d = tf.sub(rChosen, rRejected);
    return { accuracy: tf.mean(tf.cast(tf.greater(d, 0), 'float32')) as tf.Scalar, margin: tf.mean(d) as tf.Scalar };
  });
}

export type DpoLossType = 'sigmoid' | 'ipo' | 'hinge';

export interface DpoInputs {
  /** Summed log-probs of the response tokens, per example [B]. */
  policyChosen: tf.Tensor1D;
  policyRejected: tf.Tensor1D;
  refChosen: tf.Tensor1D;
  refRejected: tf.Tensor1D;
  /** Response tokens of each chosen / rejected sequence [B] (end-of-text included): IPO averages per token. */
  chosenTokens?: tf.Tensor1D;
  rejectedTokens?: tf.Tensor1D;
}

/**
 * DPO losses as TRL's `DPOTrainer.dpo_loss`: with h = (π_c − π_r) − (ref_c − ref_r),
 *   sigmoid: −log σ(βh)(1 − ε) − log σ(−βh)·ε     (ε: label smoothing, conservative DPO)
 *   ipo:     (h_tok − 1/(2β))²  with h_tok = (π_c − ref_c)/n_c − (π_r − ref_r)/n_r, the log-ratios averaged
 *            per response token as TRL does (n: response tokens, `chosenTokens` / `rejectedTokens`)
 *   hinge:   relu(1 − βh)
 * Rewards (for logging, no gradient needed): β(π − ref) of chosen and rejected; `accuracy` =
 * mean(chosen reward > rejected reward), `margin` = mean(chosen − rejected reward), as TRL's
 * `rewards/accuracies` and `rewards/margins`. `loss` is mean(losses).
 */
export function dpoLoss(x: DpoInputs, beta: number, type: DpoLossType = 'sigmoid', labelSmoothing = 0) {
  if (!(beta > 0)) throw new Error(`DPO beta must be > 0 (got ${beta})`);
  return tf.tidy(() => {
    const h = tf.sub(tf.sub(x.policyChosen, x.policyRejected), tf.sub(x.refChosen, x.refRejected));
    let losses: tf.Tensor;
    if (type === 'ipo') {
      if (!x.chosenTokens || !x.rejectedTokens) throw new Error('the IPO loss needs chosenTokens and rejectedTokens (it averages the log-ratios per token)');
      const perToken = (lr: tf.Tensor, n: tf.Tensor) => tf.div(lr, tf.maximum(n, 1));
      const hTok = tf.sub(perToken(tf.sub(x.policyChosen, x.refChosen), x.chosenTokens), perToken(tf.sub(x.policyRejected, x.refRejected), x.rejectedTokens));
      losses = tf.square(tf.sub(hTok, 1 / (2 * beta)));
    }
    else if (type === 'hinge') losses = tf.relu(tf.sub(1, tf.mul(beta, h)));
    else {
      const bh = tf.mul(beta, h);
      // −log σ(x) = softplus(−x)
      losses = tf.add(tf.mul(1 - labelSmoothing, tf.softplus(tf.neg(bh))), tf.mul(labelSmoothing, tf.softplus(bh)));
    }
    const chosenRewards = tf.mul(beta, tf.sub(x.policyChosen, x.refChosen));
    const rejectedRewards = tf.mul(beta, tf.sub(x.policyRejected, x.refRejected));
    const diff = tf.sub(chosenRewards, rejectedRewards);
    return {
      loss: tf.mean(losses) as tf.Scalar,
      losses: losses as tf.Tensor1D,
      chosenRewards: chosenRewards as tf.Tensor1D,
      rejectedRewards: rejectedRewards as tf.Tensor1D,
      accuracy: tf.mean(tf.cast(tf.greater(diff, 0), 'float32')) as tf.Scalar,
      margin: tf.mean(diff) as tf.Scalar,
    };
  });
}

export interface PpoInputs {
  /** Log-probs of the sampled response tokens when the batch was generated [B,T] (constants). */
  oldLogprobs: tf.Tensor2D;
  /** Log-probs under the current policy [B,T] (differentiable). */
  logprobs: tf.Tensor2D;
  oldValues: tf.Tensor2D;
  values: tf.Tensor2D;
  advantages: tf.Tensor2D;
  returns: tf.Tensor2D;
  /** 1 for response tokens. */
  mask: tf.Tensor2D;
  cliprange: number;
  cliprangeValue: number;
  vfCoef: number;
  /** Optional logits [B,T,V] of the current policy: adds `entropy` (masked mean, as TRL's stats). */
  logits?: tf.Tensor3D;
  /** Optional per-token entropy [B,T] of the current policy (differentiable); used instead of `logits`. */
  tokenEntropy?: tf.Tensor2D;
  /** Entropy bonus: loss −= entCoef · masked mean entropy (needs `tokenEntropy` or `logits`). */
  entCoef?: number;
}

/** Entropy of softmax(logits) along the last axis, as TRL `entropy_from_logits`: logsumexp(z) − Σ softmax(z)·z. */
export function entropyFromLogits(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(tf.softmax(logits), logits), -1)));
}

/**
 * PPO's clipped surrogate and clipped value loss, as TRL's classic `PPOTrainer.loss`:
 *   ratio = exp(logp − old_logp); pg = max(−A·ratio, −A·clip(ratio, 1±ε))
 *   v_clip = old_v + clip(v − old_v, ±ε_v); vf = ½·max((v − R)², (v_clip − R)²)
 *   loss = pg + vf_coef·vf − ent_coef·entropy (the bonus is 0 unless asked);  approx_kl = ½·mean((logp − old_logp)²);  clipfrac = mean(pg2 > pg1)
 *   policy_kl = mean(old_logp − logp);  ratio_mean = mean(ratio);  entropy = mean(H(softmax(logits)))
 * Means are over masked (response) tokens. Only `loss` is meant to be differentiated; the rest are
 * statistics (TRL computes them from the same graph and detaches them).
 */
export function ppoLoss(x: PpoInputs) {
  return tf.tidy(() => {
    const vClipped = tf.add(x.oldValues, tf.clipByValue(tf.sub(x.values, x.oldValues), -x.cliprangeValue, x.cliprangeValue));
    const vf1 = tf.square(tf.sub(x.values, x.returns));
    const vf2 = tf.square(tf.sub(vClipped, x.returns));
    const vfLoss = tf.mul(0.5, maskedMeanT(tf.maximum(vf1, vf2), x.mask));
    const vfClipFrac = maskedMeanT(tf.cast(tf.greater(vf2, vf1), 'float32'), x.mask);

    const logRatio = tf.sub(x.logprobs, x.oldLogprobs);
    const ratio = tf.exp(logRatio);
    const pg1 = tf.mul(tf.neg(x.advantages), ratio);
    const pg2 = tf.mul(tf.neg(x.advantages), tf.clipByValue(ratio, 1 - x.cliprange, 1 + x.cliprange));
    const pgLoss = maskedMeanT(tf.maximum(pg1, pg2), x.mask);
    const clipFrac = maskedMeanT(tf.cast(tf.greater(pg2, pg1), 'float32'), x.mask);
    const approxKl = tf.mul(0.5, maskedMeanT(tf.square(logRatio), x.mask));
    const policyKl = maskedMeanT(tf.neg(logRatio), x.mask);
    const ratioMean = maskedMeanT(ratio, x.mask);
    const tokenEntropy = x.tokenEntropy ?? (x.logits ? entropyFromLogits(x.logits) : undefined);
    const entropy = tokenEntropy ? maskedMeanT(tokenEntropy, x.mask) : undefined;
    let loss = tf.add(pgLoss, tf.mul(x.vfCoef, vfLoss)) as tf.Scalar;
    if (x.entCoef) {
      if (!entropy) throw new Error('ppoLoss: entCoef needs tokenEntropy or logits');
      loss = tf.sub(loss, tf.mul(x.entCoef, entropy));
    }
    return { loss, pgLoss, vfLoss, clipFrac, vfClipFrac, approxKl, policyKl, ratioMean, entropy };
  });
}
