// Estimators and losses against values computed by hand (the arithmetic is in the comments).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdaptiveKl, FixedKl, computeRewards, gae, klPerToken, maskedVar, whiten } from '../runtime/rl/advantages.ts';
import { dpoLoss, pairwiseRewardLoss, ppoLoss } from '../runtime/rl/losses.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const close = (a: number[], b: number[], d = 5) => a.forEach((x, i) => expect(x).toBeCloseTo(b[i], d));
const v = (t: tf.Tensor) => Array.from(t.dataSync());

describe('whitening and KL estimators', () => {
  it('whiten: mean 2.5, unbiased var 5/3 → std 1.290994', () => {
    close(whiten([1, 2, 3, 4]), [-1.161895, -0.387298, 0.387298, 1.161895]);
    // masked: only [1, 3] count → mean 2, var ((1)²+(1)²)/1 = 2
    expect(maskedVar([1, 100, 3], [1, 0, 1])).toBeCloseTo(2);
    close(whiten([1, 2, 3], undefined, false), [1, 2, 3]);
  });
  it('kl, abs and mse estimators of Δ = −0.5', () => {
    expect(klPerToken(-1.5, -1, 'kl')).toBeCloseTo(-0.5);
    expect(klPerToken(-1.5, -1, 'abs')).toBeCloseTo(0.5);
    expect(klPerToken(-1.5, -1, 'mse')).toBeCloseTo(0.125);
  });
});

describe('per-token rewards', () => {
  it('−β·kl on every response token and the score on the last one', () => {
    // kl = [−1 − (−1.5), −2 − (−1), masked] = [0.5, −1, 0]; −0.1·kl = [−0.05, 0.1, 0]; score 2 at t = 1
    const r = computeRewards([2], [[-1, -2, -3]], [[-1.5, -1, -3]], [[1, 1, 0]], 0.1);
    close(r.kl[0], [0.5, -1, 0]);
    close(r.nonScore[0], [-0.05, 0.1, 0]);
    close(r.rewards[0], [-0.05, 2.1, 0]);
  });
});

describe('GAE', () => {
  it('matches the recursion by hand (γ = 1, λ = 0.5)', () => {
    // t=1: δ = 1 + 0 − 2 = −1, A = −1;  t=0: δ = 0 + 2 − 1 = 1, A = 1 + 0.5·(−1) = 0.5
    const { advantages, returns } = gae([1, 2], [0, 1], 1, 0.5);
    close(advantages, [0.5, -1]);
    close(returns, [1.5, 1]);
  });
  it('discounts with γ and ignores masked positions', () => {
    // values [1, 0(masked)], rewards [1, 0]: δ0 = 1 + 0.9·0 − 1 = 0
    const { advantages } = gae([1, 5], [1, 7], 0.9, 0.95, [1, 0]);
    close(advantages, [0, 0]);
    // one step: A = r − V
    close(gae([0.3], [1], 0.99, 0.95).advantages, [0.7]);
  });
});

describe('KL controllers', () => {
  it('adaptive: β·(1 + clip(KL/target − 1, ±0.2)·n/horizon)', () => {
    const c = new AdaptiveKl(0.2, 6, 10000);
    c.update(12, 256); // error clipped to +0.2 → 0.2·(1 + 0.2·0.0256)
    expect(c.value).toBeCloseTo(0.201024, 8);
    c.update(3, 100); // error −0.5 clipped to −0.2 → ·(1 − 0.002)
    expect(c.value).toBeCloseTo(0.201024 * 0.998, 8);
    c.update(6.6, 10000); // error +0.1 → ·1.1
    expect(c.value).toBeCloseTo(0.201024 * 0.998 * 1.1, 8);
  });
  it('fixed never moves', () => {
    const c = new FixedKl(0.05);
    c.update(100, 1000);
    expect(c.value).toBe(0.05);
  });
});

describe('reward-model loss', () => {
  it('−log σ(r_c − r_r − m), plus centering', () => {
    const rc = tf.tensor1d([2, 0]);
    const rr = tf.tensor1d([1, 1]);
    // z = [1, −1]: softplus(−1) = 0.313262, softplus(1) = 1.313262 → mean 0.813262
    expect(v(pairwiseRewardLoss(rc, rr))[0]).toBeCloseTo(0.813262, 5);
    // margin [0.5, 0]: z = [0.5, −1] → (0.474077 + 1.313262)/2 = 0.893670
    expect(v(pairwiseRewardLoss(rc, rr, tf.tensor1d([0.5, 0])))[0]).toBeCloseTo(0.89367, 5);
    // centering 0.1·mean([9, 1]) = 0.5
    expect(v(pairwiseRewardLoss(rc, rr, undefined, 0.1))[0]).toBeCloseTo(1.313262, 5);
  });
});

describe('DPO losses', () => {
  // h = (π_c − π_r) − (ref_c − ref_r) = (−1 + 3) − (−2 + 2) = 2
  const x = () => ({ policyChosen: tf.tensor1d([-1]), policyRejected: tf.tensor1d([-3]), refChosen: tf.tensor1d([-2]), refRejected: tf.tensor1d([-2]) });
  it('sigmoid: softplus(−βh) = log(1 + e^−0.2) = 0.598139', () => {
    const r = dpoLoss(x(), 0.1);
    expect(v(r.loss)[0]).toBeCloseTo(0.598139, 5);
    close(v(r.chosenRewards), [0.1]); // 0.1·(−1 + 2)
    close(v(r.rejectedRewards), [-0.1]); // 0.1·(−3 + 2)
  });
  it('label smoothing 0.1: 0.9·0.598139 + 0.1·0.798139 = 0.618139', () => {
    expect(v(dpoLoss(x(), 0.1, 'sigmoid', 0.1).loss)[0]).toBeCloseTo(0.618139, 5);
  });
  it('ipo: (2 − 1/(2·0.1))² = 9; hinge: relu(1 − 0.2) = 0.8', () => {
    expect(v(dpoLoss(x(), 0.1, 'ipo').loss)[0]).toBeCloseTo(9, 5);
    expect(v(dpoLoss(x(), 0.1, 'hinge').loss)[0]).toBeCloseTo(0.8, 5);
  });
});

describe('PPO loss', () => {
  const inputs = (logp: tf.Tensor2D) => ({
    oldLogprobs: tf.tensor2d([[-1, -1]]),
    logprobs: logp,
    oldValues: tf.tensor2d([[0, 0]]),
    values: tf.tensor2d([[0.5, -0.1]]),
    advantages: tf.tensor2d([[1, -1]]),
    returns: tf.tensor2d([[1, 0]]),
    mask: tf.tensor2d([[1, 1]]),
    cliprange: 0.2,
    cliprangeValue: 0.2,
    vfCoef: 0.1,
  });
  it('clipped surrogate and clipped value loss by hand', () => {
    // ratio = [e^0.5, e^−0.5] = [1.648721, 0.606531]
    // pg1 = −A·ratio = [−1.648721, 0.606531]; pg2 = −A·clip = [−1.2, 0.8]; max → [−1.2, 0.8]; mean −0.2
    // v_clip = [0.2, −0.1]; vf1 = [0.25, 0.01]; vf2 = [0.64, 0.01]; ½·mean(max) = 0.1625
    const r = ppoLoss(inputs(tf.tensor2d([[-0.5, -1.5]])));
    expect(v(r.pgLoss)[0]).toBeCloseTo(-0.2, 5);
    expect(v(r.vfLoss)[0]).toBeCloseTo(0.1625, 5);
    expect(v(r.loss)[0]).toBeCloseTo(-0.2 + 0.1 * 0.1625, 5);
    expect(v(r.clipFrac)[0]).toBeCloseTo(1, 5);
    expect(v(r.vfClipFrac)[0]).toBeCloseTo(0.5, 5);
    expect(v(r.approxKl)[0]).toBeCloseTo(0.125, 5); // ½·mean([0.25, 0.25])
  });
  it('masks exclude padding', () => {
    const r = ppoLoss({ ...inputs(tf.tensor2d([[-0.5, -1.5]])), mask: tf.tensor2d([[1, 0]]) });
    expect(v(r.pgLoss)[0]).toBeCloseTo(-1.2, 5);
  });
});

describe('gradients match finite differences', () => {
  const fd = (f: (x: number[]) => number, x: number[], eps = 1e-3) =>
    x.map((_, i) => {
      const up = [...x];
      const dn = [...x];
      up[i] += eps;
      dn[i] -= eps;
      return (f(up) - f(dn)) / (2 * eps);
    });
  it('DPO sigmoid loss w.r.t. policy log-probs', () => {
    const loss = (p: number[]) =>
      tf.tidy(() => v(dpoLoss({ policyChosen: tf.tensor1d([p[0], p[1]]), policyRejected: tf.tensor1d([p[2], p[3]]), refChosen: tf.tensor1d([-2, -1]), refRejected: tf.tensor1d([-2, -3]) }, 0.5, 'sigmoid', 0.1).loss)[0]);
    const p = [-1, -2, -3, -0.5];
    const g = tf.grad((t: tf.Tensor) => {
      const [a, b, c, d] = tf.unstack(t);
      return dpoLoss({ policyChosen: tf.stack([a, b]) as tf.Tensor1D, policyRejected: tf.stack([c, d]) as tf.Tensor1D, refChosen: tf.tensor1d([-2, -1]), refRejected: tf.tensor1d([-2, -3]) }, 0.5, 'sigmoid', 0.1).loss;
    })(tf.tensor1d(p));
    close(v(g), fd(loss, p), 3);
  });
  it('PPO loss w.r.t. log-probs and values (away from the clip boundaries)', () => {
    const mk = (x: number[]) => ({
      oldLogprobs: tf.tensor2d([[-1, -1]]),
      logprobs: tf.tensor2d([[x[0], x[1]]]),
      oldValues: tf.tensor2d([[0, 0]]),
      values: tf.tensor2d([[x[2], x[3]]]),
      advantages: tf.tensor2d([[1, -1]]),
      returns: tf.tensor2d([[1, 0]]),
      mask: tf.tensor2d([[1, 1]]),
      cliprange: 0.2,
      cliprangeValue: 0.2,
      vfCoef: 0.1,
    });
    const x = [-0.95, -1.1, 0.1, -0.05];
    const f = (p: number[]) => tf.tidy(() => v(ppoLoss(mk(p)).loss)[0]);
    const g = tf.grad((t: tf.Tensor) => {
      const [a, b, c, d] = tf.unstack(t);
      const base = mk(x);
      return ppoLoss({ ...base, logprobs: tf.stack([a, b]).reshape([1, 2]) as tf.Tensor2D, values: tf.stack([c, d]).reshape([1, 2]) as tf.Tensor2D }).loss;
    })(tf.tensor1d(x));
    close(v(g), fd(f, x), 3);
  });
  it('reward loss w.r.t. rewards', () => {
    const f = (p: number[]) => tf.tidy(() => v(pairwiseRewardLoss(tf.tensor1d([p[0], p[1]]), tf.tensor1d([p[2], p[3]]), undefined, 0.05))[0]);
    const p = [0.3, -1, 0.5, 0.2];
    const g = tf.grad((t: tf.Tensor) => {
      const [a, b, c, d] = tf.unstack(t);
      return pairwiseRewardLoss(tf.stack([a, b]) as tf.Tensor1D, tf.stack([c, d]) as tf.Tensor1D, undefined, 0.05);
    })(tf.tensor1d(p));
    close(v(g), fd(f, p), 3);
  });
});
