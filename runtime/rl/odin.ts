// ODIN, the disentangled reward model (Chen et al. 2024, "ODIN: Disentangled Reward Mitigates Hacking
// in RLHF", §4): the reward head gets a second output meant to absorb length. For each pair the
// ranking loss is taken on the sum of both outputs; a correlation term pushes the length output to
// correlate with response length and the quality output to be uncorrelated with it (Pearson
// correlation over the batch, chosen and rejected responses together); an orthogonality term keeps
// the two head weight vectors apart. At use only the quality output remains (the stage saves the
// ordinary `score` head), so what a policy is trained on no longer pays for length.
//
//   loss = mean softplus(−((q_c + l_c) − (q_r + l_r) − margin)) + c · mean((q_c + l_c + q_r + l_r)²)
//        + λ_corr · (|ρ(q, n)| − ρ(l, n)) + λ_orth · |w_q · w_l|
//
// with n the response lengths in tokens. The Python port (compiler/export/trl/py/rlhf_export/odin.py)
// computes the same function; tests/interop/odin-loss.test.ts compares them.

import * as tf from '@tensorflow/tfjs';
import { block, float, type ParamsOf } from '../../core/schema.ts';

const FIELDS = {
  correlation: float('Weight λ_corr of the correlation term |ρ(quality, length)| − ρ(length output, length) (Pearson over each batch\'s chosen and rejected responses).', 1, 0),
  orthogonality: float('Weight λ_orth of |w_quality · w_length|, the orthogonality of the two head weight vectors.', 1, 0),
};

export const lengthDebias = block(
  'Length-debiased reward model (ODIN, Chen et al. 2024): a second, length output is trained beside the reward head; the pairwise loss is taken on their sum, the length output is pushed to correlate with response length (tokens) and the reward head to be uncorrelated with it, and the two head vectors are kept orthogonal. Only the reward head is saved, so the result is an ordinary one-output reward model. Use it when the preference labels favour short (or long) answers and a policy trained on the reward model changes its answer length instead of their quality. Without this block: the plain pairwise loss.',
  'optional',
  FIELDS,
);

export type LengthDebias = ParamsOf<typeof FIELDS>;

/** Pearson correlation of two vectors (0 when either is constant). */
export function pearson(x: tf.Tensor1D, y: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const xc = tf.sub(x, tf.mean(x));
    const yc = tf.sub(y, tf.mean(y));
    const den = tf.sqrt(tf.add(tf.mul(tf.sum(tf.square(xc)), tf.sum(tf.square(yc))), 1e-12));
    return tf.div(tf.sum(tf.mul(xc, yc)), den) as tf.Scalar;
  });
}

export interface OdinInputs {
  /** Quality outputs (the saved reward head) of chosen and rejected responses [B]. */
  qualityChosen: tf.Tensor1D;
  qualityRejected: tf.Tensor1D;
  /** Length outputs [B]. */
  lengthChosen: tf.Tensor1D;
  lengthRejected: tf.Tensor1D;
  /** Response lengths in tokens [B]. */
  tokensChosen: tf.Tensor1D;
  tokensRejected: tf.Tensor1D;
  /** The two head weight vectors [C] (or [1, C]). */
  qualityHead: tf.Tensor;
  lengthHead: tf.Tensor;
  margin?: tf.Tensor1D;
}

export interface OdinLoss {
  loss: tf.Scalar;
  /** The parts, for logging: ranking loss, ρ(quality, length), ρ(length output, length), w_q · w_l. */
  rank: tf.Scalar;
  qualityCorr: tf.Scalar;
  lengthCorr: tf.Scalar;
  dot: tf.Scalar;
}

/** The ODIN reward-model loss (see the file comment); `centering` as in pairwiseRewardLoss, on the summed rewards. */
export function odinRewardLoss(i: OdinInputs, w: LengthDebias, centering = 0): OdinLoss {
  return tf.tidy(() => {
    const rc = tf.add(i.qualityChosen, i.lengthChosen);
    const rr = tf.add(i.qualityRejected, i.lengthRejected);
    let z = tf.sub(rc, rr);
    if (i.margin) z = tf.sub(z, i.margin);
    let rank = tf.mean(tf.softplus(tf.neg(z)));
    if (centering > 0) rank = tf.add(rank, tf.mul(centering, tf.mean(tf.square(tf.add(rc, rr)))));
    const n = tf.concat([i.tokensChosen, i.tokensRejected]) as tf.Tensor1D;
    const qualityCorr = pearson(tf.concat([i.qualityChosen, i.qualityRejected]) as tf.Tensor1D, n);
    const lengthCorr = pearson(tf.concat([i.lengthChosen, i.lengthRejected]) as tf.Tensor1D, n);
    const dot = tf.sum(tf.mul(tf.reshape(i.qualityHead, [-1]), tf.reshape(i.lengthHead, [-1]))) as tf.Scalar;
    const loss = tf.addN([rank, tf.mul(w.correlation, tf.sub(tf.abs(qualityCorr), lengthCorr)), tf.mul(w.orthogonality, tf.abs(dot))]) as tf.Scalar;
    return { loss, rank: rank as tf.Scalar, qualityCorr, lengthCorr, dot };
  });
}
