// ODIN's disentangled reward loss (runtime/rl/odin.ts): hand values, gradients against finite
// differences, the two heads read from one forward pass, and a training run on pairs where length
// predicts preference: the saved (quality) head's length correlation falls while accuracy holds.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { odinRewardLoss, pearson } from '../../runtime/rl/odin.ts';
import { LM, pairBatch } from '../../runtime/train/lm.ts';
import { AdamW } from '../../runtime/optim.ts';
import { CharTokenizer } from '../../runtime/tokenizers/index.ts';
import { encodePreference } from '../../runtime/train/examples.ts';
import { GPT } from '../../runtime/model/gpt.ts';
import { gradCheck, perturb, useCpu } from './helpers.ts';
import { correlation } from '../../runtime/text-stats.ts';

let tensorsBefore = 0;
beforeAll(useCpu);
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

/** Pearson correlation by its definition, in plain numbers. */
function pearsonRef(x: number[], y: number[]): number {
  const mx = x.reduce((s, v) => s + v, 0) / x.length;
  const my = y.reduce((s, v) => s + v, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  x.forEach((_, i) => {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}
const softplus = (z: number) => Math.log1p(Math.exp(z));

const CASE = {
  qc: [1, 2, -0.5],
  qr: [0, 1, 0.25],
  lc: [0.5, -0.5, 0.1],
  lr: [0, 0.3, -0.2],
  nc: [3, 1, 5],
  nr: [2, 4, 1],
  wq: [1, 0, 2],
  wl: [0.5, 1, -1],
  margin: [0, 0.5, 0],
};

function inputs(c = CASE) {
  return {
    qualityChosen: tf.tensor1d(c.qc),
    qualityRejected: tf.tensor1d(c.qr),
    lengthChosen: tf.tensor1d(c.lc),
    lengthRejected: tf.tensor1d(c.lr),
    tokensChosen: tf.tensor1d(c.nc),
    tokensRejected: tf.tensor1d(c.nr),
    qualityHead: tf.tensor2d([c.wq]),
    lengthHead: tf.tensor2d([c.wl]),
    margin: tf.tensor1d(c.margin),
  };
}

describe('ODIN loss', () => {
  it('pearson: the definition, and 0 for a constant series', () => {
    const x = [1, 4, 2, 8];
    const y = [3, 1, 2, 7];
    const r = tf.tidy(() => pearson(tf.tensor1d(x), tf.tensor1d(y)).dataSync()[0]);
    expect(r).toBeCloseTo(pearsonRef(x, y), 5);
    expect(tf.tidy(() => pearson(tf.tensor1d(x), tf.tensor1d([2, 2, 2, 2])).dataSync()[0])).toBe(0);
  });

  it('equals the hand-computed rank + correlation + orthogonality terms', () => {
    const c = CASE;
    const w = { correlation: 0.7, orthogonality: 0.3 };
    const centering = 0.01;
    const rc = c.qc.map((q, i) => q + c.lc[i]);
    const rr = c.qr.map((q, i) => q + c.lr[i]);
    const rank = rc.reduce((s, _, i) => s + softplus(-(rc[i] - rr[i] - c.margin[i])), 0) / 3 + (centering * rc.reduce((s, _, i) => s + (rc[i] + rr[i]) ** 2, 0)) / 3;
    const n = [...c.nc, ...c.nr];
    const qCorr = pearsonRef([...c.qc, ...c.qr], n);
    const lCorr = pearsonRef([...c.lc, ...c.lr], n);
    const dot = c.wq.reduce((s, v, i) => s + v * c.wl[i], 0); // 0.5 + 0 − 2 = −1.5
    const expected = rank + w.correlation * (Math.abs(qCorr) - lCorr) + w.orthogonality * Math.abs(dot);
    const got = tf.tidy(() => {
      const o = odinRewardLoss(inputs(), w, centering);
      return [o.loss, o.rank, o.qualityCorr, o.lengthCorr, o.dot].map((t) => t.dataSync()[0]);
    });
    expect(got[0]).toBeCloseTo(expected, 5);
    expect(got[1]).toBeCloseTo(rank, 5);
    expect(got[2]).toBeCloseTo(qCorr, 5);
    expect(got[3]).toBeCloseTo(lCorr, 5);
    expect(got[4]).toBeCloseTo(-1.5, 6);
  });

  it('with both weights 0 it is the plain pairwise loss on the summed outputs', () => {
    const got = tf.tidy(() => odinRewardLoss(inputs(), { correlation: 0, orthogonality: 0 }).loss.dataSync()[0]);
    const c = CASE;
    const plain = c.qc.reduce((s, _, i) => s + softplus(-(c.qc[i] + c.lc[i] - c.qr[i] - c.lr[i] - c.margin[i])), 0) / 3;
    expect(got).toBeCloseTo(plain, 5);
  });

  it('gradients w.r.t. both outputs and both heads match finite differences', () => {
    const vars = [CASE.qc, CASE.qr, CASE.lc, CASE.lr, CASE.wq, CASE.wl].map((v) => tf.tidy(() => tf.variable(tf.tensor1d(v))));
    const [qc, qr, lc, lr, wq, wl] = vars as tf.Variable<tf.Rank.R1>[];
    const loss = () => {
      const i = inputs();
      return odinRewardLoss({ ...i, qualityChosen: qc, qualityRejected: qr, lengthChosen: lc, lengthRejected: lr, qualityHead: wq, lengthHead: wl }, { correlation: 1, orthogonality: 0.5 }).loss;
    };
    expect(gradCheck(vars, loss)).toBeGreaterThanOrEqual(6);
    tf.dispose(vars);
  });
});

// ---- the model side --------------------------------------------------------------------------

const tok = CharTokenizer.train(['gbx q']);

/** A response: g (good) or b (bad), then `k` filler x's (the score is read at the last one). */
const answer = (good: boolean, k: number) => (good ? 'g' : 'b') + 'x'.repeat(k);
function rng(seed: number) {
  let s = seed;
  return () => ((s = (s * 1664525 + 1013904223) % 4294967296) / 4294967296);
}
/**
 * `biased`: half the pairs differ in quality (g chosen over b, 0–4 fillers each, independently) and
 * half were labelled by length (the same letter, 0–1 fillers chosen over 3–4), so length predicts
 * preference; otherwise every pair differs in quality alone.
 */
function pairs(n: number, biased: boolean, seed: number) {
  const r = rng(seed);
  const any = () => Math.floor(r() * 5);
  return Array.from({ length: n }, () => {
    if (biased && r() < 0.5) {
      const good = r() < 0.5;
      return { ...encodePreference(tok, 'q', answer(good, Math.floor(r() * 2)), answer(good, 3 + Math.floor(r() * 2)), 16), margin: 0 };
    }
    return { ...encodePreference(tok, 'q', answer(true, any()), answer(false, any()), 16), margin: 0 };
  });
}

describe('ODIN on a model', () => {
  it('the quality output of the two-head pass is the reward head as `rewards` reads it', () => {
    const model = new GPT({ vocabSize: tok.vocabSize, context: 16, width: 16, layers: 1, heads: 2, dropout: 0 }, { seed: 3, heads: ['reward'] });
    perturb(model.trainable().values(), 5);
    const lm = new LM(model, tok, undefined, 'reward_model');
    const b = pairBatch(pairs(4, false, 1), tok.padId);
    const head = lm.newLengthHead(7);
    const { rank, plain } = tf.tidy(() => {
      // weights 0, the length head scaled to 0: the loss is the plain pairwise loss of the saved head
      const zero = tf.zerosLike(head) as tf.Tensor2D;
      const o = lm.odinLoss(b, 0, { correlation: 0, orthogonality: 0 }, zero);
      return { rank: o.loss.dataSync()[0], plain: lm.pairLoss(b, 0).dataSync()[0] };
    });
    expect(rank).toBeCloseTo(plain, 5);
    head.dispose();
    lm.dispose();
  });

  it('training on pairs where length predicts preference: the saved head ends far less length-correlated than a plain reward model, at the same accuracy', async () => {
    const train = pairs(160, true, 11);
    const test = pairs(100, false, 12); // length independent of the label
    const result = async (odin: boolean) => {
      const model = new GPT({ vocabSize: tok.vocabSize, context: 16, width: 16, layers: 1, heads: 2, dropout: 0 }, { seed: 3, heads: ['reward'] });
      const lm = new LM(model, tok, undefined, 'reward_model');
      const head = odin ? lm.newLengthHead(7) : undefined;
      const params = new Map([...model.trainable(), ...(head ? [['len', head] as const] : [])]);
      const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
      for (let step = 0; step < 120; step++) {
        const at = (step * 16) % train.length;
        const b = pairBatch(train.slice(at, at + 16), tok.padId);
        const { value, grads } = tf.variableGrads(() => (head ? lm.odinLoss(b, 0, { correlation: 1, orthogonality: 1 }, head).loss : lm.pairLoss(b, 0)), [...params.values()]);
        value.dispose();
        opt.apply(new Map([...params].map(([k, v]) => [k, grads[v.name]])));
        tf.dispose(grads);
      }
      const acc = (await lm.pairAccuracy(test, 50)).accuracy;
      const corr = await lm.lengthCorrelation(test, 50);
      opt.dispose();
      head?.dispose();
      lm.dispose();
      return { acc, corr };
    };
    const plain = await result(false);
    const odin = await result(true);
    console.info(`ODIN planted-length test: ${JSON.stringify({ plain, odin })}`);
    // the planted bias: a plain reward model scores short answers higher
    expect(plain.corr, JSON.stringify({ plain, odin })).toBeLessThan(-0.3);
    expect(Math.abs(odin.corr), JSON.stringify({ plain, odin })).toBeLessThan(Math.abs(plain.corr) / 2);
    expect(odin.acc, JSON.stringify({ plain, odin })).toBeGreaterThan(0.9);
    expect(odin.acc).toBeGreaterThan(plain.acc - 0.05);
    expect(correlation([1, 2, 3], [1, 2, 3])).toBeCloseTo(1, 6); // the measure used by lengthCorrelation
  }, 120_000);
});

