// GRPO, RLOO and KTO math (runtime/rl/group.ts) against values computed by hand (the arithmetic is
// in the comments), gradients against finite differences, and no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { grpoAdvantages, grpoLoss, ktoLoss, ktoReferencePoint, nanStd, rlooAdvantages, rlooLoss, weightedRewards, type GrpoOptions } from '../../runtime/rl/group.ts';

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

const close = (got: number[], want: number[], digits = 5) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(g, `element ${i}`).toBeCloseTo(want[i], digits));
};
const num = (t: tf.Tensor) => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

describe('rewards from several sources', () => {
  it('are weighted sums over the sources that scored; none scored is NaN', () => {
    // completion 0: 1·1 + 2·0.5 = 2; completion 1: nobody scored; completion 2: 1·0 = 0
    const r = weightedRewards([[1, NaN, 0], [0.5, NaN, NaN]], [1, 2]);
    expect(r[0]).toBe(2);
    expect(Number.isNaN(r[1])).toBe(true);
    expect(r[2]).toBe(0);
    expect(() => weightedRewards([[1]], [1, 2])).toThrow(/2 reward weights for 1 reward sources/);
  });
  it('nanStd has Bessel’s correction and ignores NaN', () => {
    expect(nanStd([1, 3, NaN])).toBeCloseTo(Math.SQRT2, 10); // mean 2, (1 + 1) / (2 − 1)
    expect(Number.isNaN(nanStd([5]))).toBe(true);
  });
});

describe('GRPO advantages', () => {
  // groups [1, 0] and [0, 1]: mean 0.5, std √0.5 = 0.707107 → ±0.5 / 0.707207 = ±0.707007
  it('group: centred and scaled within each group', () => {
    close(grpoAdvantages([1, 0, 0, 1], 2, 'group').advantages, [0.707007, -0.707007, -0.707007, 0.707007]);
  });
  it('batch: centred in the group, scaled by the batch std', () => {
    // batch std of [1, 0, 0, 1]: var = 4 · 0.25 / 3 → 0.577350; 0.5 / 0.577450 = 0.865876
    close(grpoAdvantages([1, 0, 0, 1], 2, 'batch').advantages, [0.865876, -0.865876, -0.865876, 0.865876]);
  });
  it('none: only centred (Dr. GRPO)', () => {
    close(grpoAdvantages([1, 0, 0, 1], 2, 'none').advantages, [0.5, -0.5, -0.5, 0.5]);
  });
  it('a group with equal rewards teaches nothing; an unscored completion gets 0 and stays out of the mean', () => {
    const a = grpoAdvantages([2, 2, NaN, 1, 3, 0], 3);
    // group 1: [2, 2, NaN] → mean 2, std 0 → 0; group 2: [1, 3, 0] mean 4/3, std √(7/3) = 1.527525
    close(a.advantages, [0, 0, 0, (1 - 4 / 3) / 1.527625, (3 - 4 / 3) / 1.527625, (0 - 4 / 3) / 1.527625]);
    expect(a.stdIsZero).toEqual([true, true, true, false, false, false]);
  });
  it('refuses a batch that is not whole groups', () => {
    expect(() => grpoAdvantages([1, 2, 3], 2)).toThrow(/not whole groups of 2/);
  });
});

describe('RLOO advantages', () => {
  it('subtract the mean of the other completions of the prompt', () => {
    close(rlooAdvantages([1, 2, 3, 4], 2).advantages, [-1, 1, -1, 1]);
    // [1, 2, 3, 6]: 1 − 11/3, 2 − 10/3, 3 − 9/3, 6 − 6/3
    close(rlooAdvantages([1, 2, 3, 6], 4).advantages, [-8 / 3, -4 / 3, 0, 4]);
  });
  it('take the KL penalty off the reward first', () => {
    // rewards [1, 2] − 0.5 · KL sums [2, 0] = [0, 2] → [−2, 2]
    close(rlooAdvantages([1, 2], 2, { beta: 0.5, klSums: [2, 0] }).advantages, [-2, 2]);
  });
  it('normalised: mean 0 and std 1 over the batch', () => {
    // [−8/3, −4/3, 0, 4]: mean 0, Σa² = 64/9 + 16/9 + 16 = 224/9, std √(224/27) = 2.880329
    close(rlooAdvantages([1, 2, 3, 6], 4, { normalize: true }).advantages, [-8 / 3, -4 / 3, 0, 4].map((a) => a / 2.880429));
  });
  it('an unscored completion is left out of its siblings’ baselines and gets 0', () => {
    // group [NaN, 1, 3]: 1 − 3 = −2, 3 − 1 = 2
    close(rlooAdvantages([NaN, 1, 3], 3).advantages, [0, -2, 2]);
  });
});

describe('GRPO loss', () => {
  const base: GrpoOptions = { beta: 0, epsilon: 0.2, lossType: 'grpo', maxCompletionLength: 4 };
  const t2 = (x: number[][]) => tf.tensor2d(x);
  it('on-policy with β = 0 is −A per token', () => {
    const logps = t2([[-1, -2]]);
    const mask = t2([[1, 1]]);
    const adv = tf.tensor1d([2]);
    const r = grpoLoss({ logps, oldLogps: logps, mask, advantages: adv }, base);
    expect(num(r.loss)).toBeCloseTo(-2, 6);
    expect(num(r.kl)).toBe(0);
    [r.clipLow, r.clipHigh, r.clipRegion].forEach((t) => t.dispose());
    tf.dispose([logps, mask, adv]);
  });
  it('adds β times the k3 KL to the reference', () => {
    // ref − logπ = −0.5 per token: e^−0.5 + 0.5 − 1 = 0.106531; −2 + 0.1 · 0.106531
    const logps = t2([[-1, -2]]);
    const ref = t2([[-1.5, -2.5]]);
    const mask = t2([[1, 1]]);
    const adv = tf.tensor1d([2]);
    const r = grpoLoss({ logps, oldLogps: logps, refLogps: ref, mask, advantages: adv }, { ...base, beta: 0.1 });
    expect(num(r.loss)).toBeCloseTo(-2 + 0.1 * 0.106531, 5);
    expect(num(r.kl)).toBeCloseTo(0.106531, 5);
    [r.clipLow, r.clipHigh, r.clipRegion].forEach((t) => t.dispose());
    tf.dispose([logps, ref, mask, adv]);
  });
  it('clips the ratio at 1 + ε_high for positive advantages (clip-higher)', () => {
    // token 1: ratio 1.5 → min(1.5, 1.2) · 1; token 2: ratio 1 → loss mean(−1.2, −1) = −1.1
    const logps = t2([[Math.log(1.5), 0]]);
    const old = t2([[0, 0]]);
    const mask = t2([[1, 1]]);
    const adv = tf.tensor1d([1]);
    const r = grpoLoss({ logps, oldLogps: old, mask, advantages: adv }, base);
    expect(num(r.loss)).toBeCloseTo(-1.1, 6);
    expect(num(r.clipHigh)).toBeCloseTo(0.5, 6);
    expect(num(r.clipLow)).toBe(0);
    r.clipRegion.dispose();
    // with ε_high = 0.6 the ratio 1.5 is inside the region: mean(−1.5, −1) = −1.25
    const h = grpoLoss({ logps, oldLogps: old, mask, advantages: adv }, { ...base, epsilonHigh: 0.6 });
    expect(num(h.loss)).toBeCloseTo(-1.25, 6);
    [h.kl, h.clipLow, h.clipHigh, h.clipRegion, r.kl].forEach((t) => t.dispose());
    tf.dispose([logps, old, mask, adv]);
  });
  it('aggregates per loss type', () => {
    // per-token loss −A: sequence 1 (A = 1) has 2 tokens, sequence 2 (A = 2) has 1; Σ = −4 over 3 tokens
    const logps = t2([[-1, -1, -1], [-1, -1, -1]]);
    const mask = t2([[1, 1, 0], [1, 0, 0]]);
    const adv = tf.tensor1d([1, 2]);
    const want: Record<string, number> = { grpo: (-1 - 2) / 2, bnpo: -4 / 3, dr_grpo: -4 / (2 * 4) };
    for (const [lossType, w] of Object.entries(want)) {
      const r = grpoLoss({ logps, oldLogps: logps, mask, advantages: adv }, { ...base, lossType: lossType as GrpoOptions['lossType'] });
      expect(num(r.loss), lossType).toBeCloseTo(w, 6);
      [r.kl, r.clipLow, r.clipHigh, r.clipRegion].forEach((t) => t.dispose());
    }
    const d = grpoLoss({ logps, oldLogps: logps, mask, advantages: adv }, { ...base, lossType: 'dapo', tokensInBatch: 8 });
    expect(num(d.loss)).toBeCloseTo(-4 / 8, 6);
    [d.kl, d.clipLow, d.clipHigh, d.clipRegion].forEach((t) => t.dispose());
    tf.dispose([logps, mask, adv]);
  });
  it('gradient with respect to the log-probs matches finite differences', () => {
    const old = [[-1.1, -0.7, -2.0], [-0.4, -1.3, -0.9]];
    const ref = t2([[-1.0, -0.9, -1.7], [-0.6, -1.0, -1.1]]);
    const oldT = t2(old);
    const mask = t2([[1, 1, 1], [1, 1, 0]]);
    const adv = tf.tensor1d([0.8, -1.3]);
    const opts: GrpoOptions = { ...base, beta: 0.04, epsilon: 0.2, epsilonHigh: 0.28 };
    const f = (lp: tf.Tensor2D) => {
      const r = grpoLoss({ logps: lp, oldLogps: oldT, refLogps: ref, mask, advantages: adv }, opts);
      tf.dispose([r.kl, r.clipLow, r.clipHigh, r.clipRegion]);
      return r.loss;
    };
    // a point off the clip boundaries
    const at = [[-1.05, -0.75, -1.9], [-0.45, -1.2, -0.9]];
    const atT = t2(at);
    const g = tf.grad((x: tf.Tensor) => f(x as tf.Tensor2D))(atT);
    const analytic = g.arraySync() as number[][];
    const h = 1e-3;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) {
        const up = at.map((r) => r.slice());
        const dn = at.map((r) => r.slice());
        up[i][j] += h;
        dn[i][j] -= h;
        const [u, d] = [t2(up), t2(dn)];
        const fd = (num(f(u)) - num(f(d))) / (2 * h);
        tf.dispose([u, d]);
        expect(analytic[i][j], `∂/∂logp[${i}][${j}]`).toBeCloseTo(fd, 3);
      }
    tf.dispose([g, atT, oldT, ref, mask, adv]);
  });
});

describe('RLOO loss', () => {
  it('clips the sequence-level ratio', () => {
    // Σ log π = −2, old −2.5 → ratio e^0.5 = 1.648721
    const logps = tf.tensor2d([[-1, -1]]);
    const mask = tf.tensor2d([[1, 1]]);
    const old = tf.tensor1d([-2.5]);
    for (const [a, want, clip] of [[1, -1.2, 1], [-1, 1.648721, 0]]) {
      const adv = tf.tensor1d([a]);
      const r = rlooLoss({ logps, mask, oldSeqLogps: old, advantages: adv }, 0.2);
      expect(num(r.loss)).toBeCloseTo(want, 5);
      expect(num(r.clipRegion)).toBe(clip);
      adv.dispose();
    }
    tf.dispose([logps, mask, old]);
  });
});

describe('KTO loss', () => {
  it('desirable and undesirable examples are pushed away from the reference point', () => {
    // h = [0.5, −0.5], z₀ = 0.2, β = 0.5: 1 − σ(0.15) = 0.462570; 1 − σ(0.35) = 0.413382
    const logps = tf.tensor1d([-1, -2]);
    const ref = tf.tensor1d([-1.5, -1.5]);
    const labels = tf.tensor1d([1, 0]);
    const a = ktoLoss({ logps, refLogps: ref, labels, kl: 0.2 }, { beta: 0.5 });
    expect(num(a.loss)).toBeCloseTo((0.46257 + 0.413382) / 2, 5);
    expect(Array.from(a.rewards.dataSync())).toEqual([0.25, -0.25]);
    a.rewards.dispose();
    const b = ktoLoss({ logps, refLogps: ref, labels, kl: 0.2 }, { beta: 0.5, undesirableWeight: 2 });
    expect(num(b.loss)).toBeCloseTo((0.46257 + 2 * 0.413382) / 2, 5);
    b.rewards.dispose();
    tf.dispose([logps, ref, labels]);
  });
  it('the reference point is the mean mismatched log-ratio, never below 0', () => {
    expect(ktoReferencePoint([-1, -2], [-1.5, -1.7])).toBeCloseTo(0.1, 10); // (0.5 − 0.3) / 2
    expect(ktoReferencePoint([-2], [-1])).toBe(0);
    expect(ktoReferencePoint([], [])).toBe(0);
  });
});
