// Estimators and losses against values computed by hand (the arithmetic is in the comments), edge
// cases (masks, empty and single-element inputs), gradients against finite differences, and no
// tensor leaks (every test leaves tf.memory().numTensors where it found it).
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AdaptiveKl,
  FixedKl,
  RunningMoments,
  computeAdvantages,
  computeRewards,
  gae,
  klControllerFromState,
  klPerToken,
  maskedMean,
  maskedVar,
  scaleScores,
  whiten,
  type KlPenalty,
} from '../../runtime/rl/advantages.ts';
import { dpoLoss, entropyFromLogits, pairwiseRewardLoss, pairwiseRewardMetrics, ppoLoss } from '../../runtime/rl/losses.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
let tensorsBefore = 0;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

const close = (a: number[], b: number[], d = 5) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(x).toBeCloseTo(b[i], d));
};
/** Run `f` in a tidy and read every returned tensor into plain numbers. */
function read<T extends Record<string, tf.Tensor | undefined>>(f: () => T): { [K in keyof T]: number[] } {
  return tf.tidy(() => {
    const r = f();
    return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t ? Array.from(t.dataSync()) : []]));
  }) as unknown as { [K in keyof T]: number[] };
}

describe('whitening', () => {
  it('whiten: mean 2.5, unbiased var 5/3 → std 1.290994', () => {
    // (1 − 2.5)/1.290994 = −1.161895, (2 − 2.5)/1.290994 = −0.387298
    close(whiten([1, 2, 3, 4]), [-1.161895, -0.387298, 0.387298, 1.161895]);
    // shiftMean false adds the mean back: −1.161895 + 2.5 = 1.338105
    close(whiten([1, 2, 3, 4], undefined, false), [1.338105, 2.112702, 2.887298, 3.661895]);
  });
  it('masked: only the selected entries set mean and variance', () => {
    // [1, 3] count → mean 2, var ((−1)² + 1²)/2 · 2/1 = 2
    expect(maskedMean([1, 100, 3], [1, 0, 1])).toBeCloseTo(2);
    expect(maskedVar([1, 100, 3], [1, 0, 1])).toBeCloseTo(2);
    // every entry is transformed with that mean/std (as TRL): (100 − 2)/√2 = 69.296465
    close(whiten([1, 100, 3], [1, 0, 1]), [-1 / Math.SQRT2, 98 / Math.SQRT2, 1 / Math.SQRT2]);
  });
  it('edge cases: empty, single element, empty mask', () => {
    expect(whiten([])).toEqual([]);
    // one element: variance 0 (TRL would divide by zero) → (5 − 5)/√1e-8 = 0
    close(whiten([5]), [0]);
    expect(maskedMean([1, 2], [0, 0])).toBe(0);
    expect(maskedVar([1, 2], [0, 0])).toBe(0);
  });
});

describe('KL estimators', () => {
  it('kl, abs and mse of Δ = −1.5 − (−1) = −0.5', () => {
    expect(klPerToken(-1.5, -1, 'kl')).toBeCloseTo(-0.5);
    expect(klPerToken(-1.5, -1, 'abs')).toBeCloseTo(0.5);
    expect(klPerToken(-1.5, -1, 'mse')).toBeCloseTo(0.125); // ½·0.25
    expect(() => klPerToken(0, 0, 'full' as KlPenalty)).toThrow(/unknown KL penalty 'full'/);
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
  it('mse penalty, two rows of different lengths, an empty row', () => {
    // row 0: Δ = [1, −2] → mse [0.5, 2] → −0.5·[0.5, 2] = [−0.25, −1]; score 3 on t = 1 → [−0.25, 2]
    // row 1: Δ = [0.4] → 0.08 → −0.04, + score −1 → −1.04
    // row 2: mask empty → no kl, no score
    const r = computeRewards([3, -1, 7], [[0, -2], [-0.6], [-1]], [[-1, 0], [-1], [-2]], [[1, 1], [1], [0]], 0.5, 'mse');
    close(r.rewards[0], [-0.25, 2]);
    close(r.rewards[1], [-1.04]);
    close(r.rewards[2], [0]);
    close(r.kl[0], [0.5, 2]);
  });
  it('a zero-length batch gives nothing', () => {
    expect(computeRewards([], [], [], [], 0.1)).toEqual({ rewards: [], nonScore: [], kl: [] });
  });
});

describe('GAE', () => {
  it('matches the recursion by hand (γ = 1, λ = 0.5)', () => {
    // t=1: δ = 1 + 0 − 2 = −1, A = −1;  t=0: δ = 0 + 2 − 1 = 1, A = 1 + 0.5·(−1) = 0.5
    const { advantages, returns } = gae([1, 2], [0, 1], 1, 0.5);
    close(advantages, [0.5, -1]);
    close(returns, [1.5, 1]); // A + V
  });
  it('three steps with γ = 0.9, λ = 0.95', () => {
    // V = [0.5, 0.2, −0.1], r = [0, 0, 1]
    // t=2: δ = 1 − (−0.1) = 1.1, A2 = 1.1
    // t=1: δ = 0 + 0.9·(−0.1) − 0.2 = −0.29, A1 = −0.29 + 0.855·1.1 = 0.6505
    // t=0: δ = 0 + 0.9·0.2 − 0.5 = −0.32, A0 = −0.32 + 0.855·0.6505 = 0.2361775
    const { advantages, returns } = gae([0.5, 0.2, -0.1], [0, 0, 1], 0.9, 0.95);
    close(advantages, [0.2361775, 0.6505, 1.1]);
    close(returns, [0.7361775, 0.8505, 1]);
  });
  it('masked positions count as zero; empty and single-step inputs', () => {
    // values [1, 0(masked)], rewards [1, 0(masked)]: δ0 = 1 + 0.9·0 − 1 = 0
    close(gae([1, 5], [1, 7], 0.9, 0.95, [1, 0]).advantages, [0, 0]);
    close(gae([0.3], [1], 0.99, 0.95).advantages, [0.7]); // one step: A = r − V
    expect(gae([], [], 0.99, 0.95)).toEqual({ advantages: [], returns: [] });
  });
  it('batch version whitens the advantages over all masked tokens (TRL compute_advantages)', () => {
    // row 0 as the γ = 1, λ = 0.5 case: A = [0.5, −1], R = [1.5, 1]; row 1: A = [1 − 0] = [1], R = [1]
    // whiten [0.5, −1, 1]: mean 1/6, unbiased var ((1/3)² + (7/6)² + (5/6)²)/2 = 13/12 → std 1.040833
    const r = computeAdvantages([[1, 2], [0]], [[0, 1], [1]], [[1, 1], [1]], 1, 0.5);
    const s = Math.sqrt(13 / 12);
    close(r.advantages[0], [(0.5 - 1 / 6) / s, (-1 - 1 / 6) / s]);
    close(r.advantages[1], [(1 - 1 / 6) / s]);
    close(r.returns[0], [1.5, 1]);
    close(r.returns[1], [1]);
  });
});

describe('KL controllers', () => {
  it('adaptive: β·(1 + clip(KL/target − 1, ±0.2)·n/horizon)', () => {
    const c = new AdaptiveKl(0.2, 6, 10000);
    c.update(12, 256); // error 1 clipped to +0.2 → 0.2·(1 + 0.2·0.0256) = 0.201024
    expect(c.value).toBeCloseTo(0.201024, 8);
    c.update(3, 100); // error −0.5 clipped to −0.2 → ·(1 − 0.2·0.01) = ·0.998
    expect(c.value).toBeCloseTo(0.201024 * 0.998, 8);
    c.update(6.6, 10000); // error +0.1 unclipped → ·1.1
    expect(c.value).toBeCloseTo(0.201024 * 0.998 * 1.1, 8);
  });
  it('fixed never moves', () => {
    const c = new FixedKl(0.05);
    c.update(100, 1000);
    expect(c.value).toBe(0.05);
  });
  it('state round-trips and the restored controller continues identically', () => {
    const a = new AdaptiveKl(0.1, 2, 100);
    a.update(4, 10); // ·(1 + 0.2·0.1) = 0.102
    const b = klControllerFromState(JSON.parse(JSON.stringify(a.state())));
    expect(b.state()).toEqual({ kind: 'adaptive', value: a.value, target: 2, horizon: 100 });
    a.update(1, 50);
    b.update(1, 50); // error −0.5 → −0.2: ·0.9
    expect(b.value).toBe(a.value);
    expect(b.value).toBeCloseTo(0.102 * 0.9, 10);
    expect(klControllerFromState(new FixedKl(0.3).state())).toBeInstanceOf(FixedKl);
  });
});

describe('score scaling and clipping', () => {
  it('running moments combine batches like one pass over all scores', () => {
    const m = new RunningMoments();
    // batch [1, 3]: own mean 2, unbiased std √2
    const first = m.update([1, 3]);
    expect(first.mean).toBeCloseTo(2);
    expect(first.std).toBeCloseTo(Math.SQRT2);
    m.update([5, 7, 9]);
    // all five [1, 3, 5, 7, 9]: mean 5, unbiased var (16+4+0+4+16)/4 = 10 (the 1e-24 prior is negligible)
    expect(m.mean).toBeCloseTo(5, 8);
    expect(m.std).toBeCloseTo(Math.sqrt(10), 8);
    const copy = new RunningMoments();
    copy.load(m.state());
    expect(copy.state()).toEqual(m.state());
    expect(m.update([])).toEqual({ mean: 0, std: 0 });
  });
  it('scaleScores: divide by running std, optionally centre, then clip', () => {
    // [2, 4]: running mean 3, std √2 → [2/√2, 4/√2] = [1.414214, 2.828427]
    close(scaleScores([2, 4], new RunningMoments(), { scaling: true }), [1.414214, 2.828427]);
    // norm: [(2 − 3)/√2, (4 − 3)/√2] = [−0.707107, 0.707107]
    close(scaleScores([2, 4], new RunningMoments(), { scaling: true, norm: true }), [-0.707107, 0.707107]);
    // scaling then clip 2: [1.414214, 2]; clip alone leaves the moments untouched
    close(scaleScores([2, 4], new RunningMoments(), { scaling: true, clip: 2 }), [1.414214, 2]);
    const m = new RunningMoments();
    expect(scaleScores([-5, 0.5, 5], m, { clip: 1 })).toEqual([-1, 0.5, 1]);
    expect(m.mean).toBe(0);
  });
});

describe('reward-model loss', () => {
  const rc = () => tf.tensor1d([2, 0]);
  const rr = () => tf.tensor1d([1, 1]);
  it('−log σ(r_c − r_r − m), plus centering', () => {
    // z = [1, −1]: softplus(−1) = 0.313262, softplus(1) = 1.313262 → mean 0.813262
    expect(read(() => ({ l: pairwiseRewardLoss(rc(), rr()) })).l[0]).toBeCloseTo(0.813262, 5);
    // margin [0.5, 0]: z = [0.5, −1] → (softplus(−0.5) = 0.474077 + 1.313262)/2 = 0.893670
    expect(read(() => ({ l: pairwiseRewardLoss(rc(), rr(), tf.tensor1d([0.5, 0])) })).l[0]).toBeCloseTo(0.89367, 5);
    // centering 0.1·mean([(2+1)², (0+1)²]) = 0.1·5 = 0.5 → 1.313262
    expect(read(() => ({ l: pairwiseRewardLoss(rc(), rr(), undefined, 0.1) })).l[0]).toBeCloseTo(1.313262, 5);
  });
  it('stays finite for large reward gaps (softplus form)', () => {
    // z = −200: softplus(200) = 200 (log σ would underflow to −∞); z = 200: softplus(−200) ≈ 0
    const r = read(() => ({ l: pairwiseRewardLoss(tf.tensor1d([0, 200]), tf.tensor1d([200, 0])) }));
    expect(r.l[0]).toBeCloseTo(100, 3);
  });
  it('accuracy and margin', () => {
    // diffs [1, −1] → accuracy 0.5, margin 0
    const r = read(() => pairwiseRewardMetrics(rc(), rr()));
    close(r.accuracy, [0.5]);
    close(r.margin, [0]);
    const s = read(() => pairwiseRewardMetrics(tf.tensor1d([3]), tf.tensor1d([1])));
    close(s.accuracy, [1]);
    close(s.margin, [2]);
  });
});

describe('DPO losses', () => {
  // h = (π_c − π_r) − (ref_c − ref_r) = (−1 + 3) − (−2 + 2) = 2
  const x = () => ({ policyChosen: tf.tensor1d([-1]), policyRejected: tf.tensor1d([-3]), refChosen: tf.tensor1d([-2]), refRejected: tf.tensor1d([-2]) });
  it('sigmoid: softplus(−βh) = log(1 + e^−0.2) = 0.598139', () => {
    const r = read(() => dpoLoss(x(), 0.1));
    close(r.loss, [0.598139]);
    close(r.losses, [0.598139]);
    close(r.chosenRewards, [0.1]); // 0.1·(−1 + 2)
    close(r.rejectedRewards, [-0.1]); // 0.1·(−3 + 2)
    close(r.accuracy, [1]);
    close(r.margin, [0.2]);
  });
  it('label smoothing 0.1: 0.9·softplus(−0.2) + 0.1·softplus(0.2) = 0.9·0.598139 + 0.1·0.798139 = 0.618139', () => {
    close(read(() => dpoLoss(x(), 0.1, 'sigmoid', 0.1)).loss, [0.618139]);
  });
  it('ipo with one-token responses: (2 − 1/(2·0.1))² = 9; hinge: relu(1 − 0.2) = 0.8', () => {
    const one = () => ({ ...x(), chosenTokens: tf.tensor1d([1]), rejectedTokens: tf.tensor1d([1]) });
    close(read(() => dpoLoss(one(), 0.1, 'ipo')).loss, [9], 4);
    close(read(() => dpoLoss(x(), 0.1, 'hinge')).loss, [0.8]);
  });
  it('ipo averages the log-ratios per response token, as TRL (not summed per sequence)', () => {
    // chosen log-ratio −1 − (−2) = 1 over 2 tokens → 0.5; rejected −3 − (−2) = −1 over 4 tokens → −0.25
    // h_tok = 0.75; (0.75 − 1/(2·0.1))² = (−4.25)² = 18.0625 (summed: (2 − 5)² = 9)
    const lens = () => ({ ...x(), chosenTokens: tf.tensor1d([2]), rejectedTokens: tf.tensor1d([4]) });
    close(read(() => dpoLoss(lens(), 0.1, 'ipo')).loss, [18.0625], 4);
    const inputs = x();
    expect(() => dpoLoss(inputs, 0.1, 'ipo')).toThrow(/IPO loss needs chosenTokens/);
    tf.dispose(Object.values(inputs));
  });
  it('per-example losses over a batch of two; hinge is zero past the margin', () => {
    // h = [2, −12]: row 1 = (−5 + 3) − (−1 + 11) = −12
    // sigmoid β = 0.1: [softplus(−0.2), softplus(1.2)] = [0.598139, 1.463282], mean 1.030711
    // hinge β = 1: [relu(1 − 2), relu(1 + 12)] = [0, 13]
    const y = () => ({ policyChosen: tf.tensor1d([-1, -5]), policyRejected: tf.tensor1d([-3, -3]), refChosen: tf.tensor1d([-2, -1]), refRejected: tf.tensor1d([-2, -11]) });
    const s = read(() => dpoLoss(y(), 0.1));
    close(s.losses, [0.598139, 1.463282]);
    close(s.loss, [1.030711]);
    // rewards: chosen 0.1·[1, −4], rejected 0.1·[−1, 8] → accuracy ½, margin mean(0.2, −1.2) = −0.5
    close(s.accuracy, [0.5]);
    close(s.margin, [-0.5]);
    close(read(() => dpoLoss(y(), 1, 'hinge')).losses, [0, 13]);
  });
  it('rejects β ≤ 0', () => {
    const inputs = x();
    expect(() => dpoLoss(inputs, 0)).toThrow(/beta must be > 0/);
    tf.dispose(Object.values(inputs));
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
    // pg1 = −A·ratio = [−1.648721, 0.606531]; pg2 = −A·clip(ratio, 0.8, 1.2) = [−1.2, 0.8]; max → [−1.2, 0.8]; mean −0.2
    // v_clip = 0 + clip([0.5, −0.1], ±0.2) = [0.2, −0.1]; vf1 = [0.25, 0.01]; vf2 = [0.64, 0.01]; ½·mean(max) = ½·0.325 = 0.1625
    const r = read(() => ppoLoss(inputs(tf.tensor2d([[-0.5, -1.5]]))));
    close(r.pgLoss, [-0.2]);
    close(r.vfLoss, [0.1625]);
    close(r.loss, [-0.2 + 0.1 * 0.1625]);
    close(r.clipFrac, [1]); // pg2 > pg1 on both tokens
    close(r.vfClipFrac, [0.5]); // vf2 > vf1 only on the first
    close(r.approxKl, [0.125]); // ½·mean([0.25, 0.25])
    close(r.policyKl, [0]); // mean(old − new) = mean([−0.5, 0.5])
    close(r.ratioMean, [(1.648721 + 0.606531) / 2]);
    expect(r.entropy).toEqual([]); // no logits given
  });
  it('masks exclude padding', () => {
    // only token 0: pg = −1.2, vf = ½·0.64 = 0.32, approx_kl = ½·0.25, policy_kl = −0.5
    const r = read(() => ppoLoss({ ...inputs(tf.tensor2d([[-0.5, -1.5]])), mask: tf.tensor2d([[1, 0]]) }));
    close(r.pgLoss, [-1.2]);
    close(r.vfLoss, [0.32]);
    close(r.approxKl, [0.125]);
    close(r.policyKl, [-0.5]);
  });
  it('ratio 1 (no update yet): pg = −mean(A), nothing clipped, all KLs zero', () => {
    const r = read(() => ppoLoss(inputs(tf.tensor2d([[-1, -1]]))));
    close(r.pgLoss, [0]); // −mean([1, −1])
    close(r.clipFrac, [0]);
    close(r.approxKl, [0]);
    close(r.ratioMean, [1]);
  });
  it('entropy from logits: uniform over 4 → ln 4; one-hot-ish → ≈ 0', () => {
    // logits [0,0,0,0]: logsumexp = ln 4, Σp·z = 0 → ln 4 = 1.386294
    // logits [30,0,0,0]: p ≈ [1, 3e−14...] → ≈ 0; masked mean over both tokens = 0.693147
    const logits = () => tf.tensor3d([[[0, 0, 0, 0], [30, 0, 0, 0]]]);
    close(read(() => ({ h: entropyFromLogits(logits()) })).h, [Math.log(4), 0], 4);
    close(read(() => ppoLoss({ ...inputs(tf.tensor2d([[-1, -1]])), logits: logits() })).entropy, [Math.log(4) / 2], 4);
  });
  it('entropy bonus: loss − entropy_coef · masked mean entropy (per-token entropy or logits), 0 by default', () => {
    const base = -0.2 + 0.1 * 0.1625; // the hand values above
    const x = () => inputs(tf.tensor2d([[-0.5, -1.5]])); // made inside each tidy
    close(read(() => ppoLoss({ ...x(), tokenEntropy: tf.tensor2d([[2, 1]]), entCoef: 0.05 })).loss, [base - 0.05 * 1.5]);
    close(read(() => ppoLoss({ ...x(), tokenEntropy: tf.tensor2d([[2, 1]]), entCoef: 0.05, mask: tf.tensor2d([[1, 0]]) })).entropy, [2]);
    close(read(() => ppoLoss({ ...x(), logits: tf.tensor3d([[[0, 0, 0, 0], [0, 0, 0, 0]]]), entCoef: 0.1 })).loss, [base - 0.1 * Math.log(4)], 5);
    close(read(() => ppoLoss({ ...x(), tokenEntropy: tf.tensor2d([[2, 1]]) })).loss, [base]); // no coefficient: no bonus
    expect(() => tf.tidy(() => ppoLoss({ ...x(), entCoef: 0.1 }).loss)).toThrow(/entCoef needs/);
  });
});

describe('gradients match finite differences', () => {
  const fd = (f: (x: number[]) => number, x: number[], eps = 1e-2) =>
    x.map((_, i) => {
      const up = [...x];
      const dn = [...x];
      up[i] += eps;
      dn[i] -= eps;
      return (f(up) - f(dn)) / (2 * eps);
    });
  /** tf.grad of `loss` built from the 1-D parameter tensor, at `p`, as numbers. */
  const grad = (loss: (t: tf.Tensor1D) => tf.Scalar, p: number[]) => tf.tidy(() => Array.from(tf.grad((t) => loss(t as tf.Tensor1D))(tf.tensor1d(p)).dataSync()));
  const value = (loss: (t: tf.Tensor1D) => tf.Scalar) => (p: number[]) => tf.tidy(() => loss(tf.tensor1d(p)).dataSync()[0]);
  const check = (loss: (t: tf.Tensor1D) => tf.Scalar, p: number[]) => {
    const g = grad(loss, p);
    const n = fd(value(loss), p);
    g.forEach((x, i) => expect(Math.abs(x - n[i])).toBeLessThan(2e-3 + 2e-3 * Math.abs(n[i])));
    expect(g.some((x) => Math.abs(x) > 1e-3)).toBe(true); // the check is not vacuous
  };

  for (const type of ['sigmoid', 'ipo', 'hinge'] as const) {
    it(`DPO ${type} loss w.r.t. policy log-probs`, () => {
      const loss = (t: tf.Tensor1D) => {
        const [a, b, c, d] = tf.unstack(t);
        return dpoLoss({ policyChosen: tf.stack([a, b]) as tf.Tensor1D, policyRejected: tf.stack([c, d]) as tf.Tensor1D, refChosen: tf.tensor1d([-2, -1]), refRejected: tf.tensor1d([-2, -3]), chosenTokens: tf.tensor1d([1, 1]), rejectedTokens: tf.tensor1d([1, 1]) }, 0.5, type, 0.1).loss;
      };
      // h = [(−1.5 + 3) − 0, (−2 + 0.5) − 2] = [1.5, −3.5], βh = [0.75, −1.75]: away from the hinge kink at βh = 1
      check(loss, [-1.5, -2, -3, -0.5]);
    });
  }
  it('PPO loss w.r.t. log-probs and values (away from the clip boundaries)', () => {
    const loss = (t: tf.Tensor1D) => {
      const [a, b, c, d] = tf.unstack(t);
      return ppoLoss({
        oldLogprobs: tf.tensor2d([[-1, -1]]),
        logprobs: tf.stack([a, b]).reshape([1, 2]) as tf.Tensor2D,
        oldValues: tf.tensor2d([[0, 0]]),
        values: tf.stack([c, d]).reshape([1, 2]) as tf.Tensor2D,
        advantages: tf.tensor2d([[1, -1]]),
        returns: tf.tensor2d([[1, 0]]),
        mask: tf.tensor2d([[1, 1]]),
        cliprange: 0.2,
        cliprangeValue: 0.2,
        vfCoef: 0.1,
      }).loss;
    };
    check(loss, [-0.95, -1.1, 0.1, -0.05]);
  });
  it('PPO loss with the entropy bonus w.r.t. the logits', () => {
    // one token, 3-way logits: the surrogate through its log-prob (target 0) and −0.2·entropy
    const loss = (t: tf.Tensor1D) => {
      const logits = t.reshape([1, 1, 3]) as tf.Tensor3D;
      const logprobs = tf.logSoftmax(logits).slice([0, 0, 0], [1, 1, 1]).reshape([1, 1]) as tf.Tensor2D;
      return ppoLoss({
        oldLogprobs: tf.tensor2d([[-1.1]]),
        logprobs,
        oldValues: tf.tensor2d([[0]]),
        values: tf.tensor2d([[0.1]]),
        advantages: tf.tensor2d([[0.7]]),
        returns: tf.tensor2d([[0.2]]),
        mask: tf.tensor2d([[1]]),
        cliprange: 0.2,
        cliprangeValue: 0.2,
        vfCoef: 0.1,
        logits,
        entCoef: 0.2,
      }).loss;
    };
    check(loss, [0.1, -0.3, 0.5]);
  });
  it('reward loss w.r.t. rewards, with margin and centering', () => {
    const loss = (t: tf.Tensor1D) => {
      const [a, b, c, d] = tf.unstack(t);
      return pairwiseRewardLoss(tf.stack([a, b]) as tf.Tensor1D, tf.stack([c, d]) as tf.Tensor1D, tf.tensor1d([0.2, 0]), 0.05);
    };
    check(loss, [0.3, -1, 0.5, 0.2]);
  });
});
