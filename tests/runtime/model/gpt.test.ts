import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { entropy } from '../../../runtime/model/gpt.ts';
import { toTensors } from '../../../runtime/model/batch.ts';
import { AdamW } from '../../../runtime/optim.ts';
import { collate } from '../../../runtime/train/examples.ts';
import { gradCheck, lmBatch, maxAbsDiff, perturb, tinyModel, tok, useCpu } from '../helpers.ts';

beforeAll(useCpu);

describe('GPT model', () => {
  it('has the exact Hugging Face GPT-2 names and shapes', () => {
    const m = tinyModel({}, 1, ['value', 'reward']);
    const V = tok.vocabSize;
    expect(m.w('transformer.wte.weight').shape).toEqual([V, 16]);
    expect(m.w('transformer.wpe.weight').shape).toEqual([32, 16]);
    expect(m.w('transformer.h.1.attn.c_attn.weight').shape).toEqual([16, 48]);
    expect(m.w('transformer.h.1.attn.c_proj.weight').shape).toEqual([16, 16]);
    expect(m.w('transformer.h.0.mlp.c_fc.weight').shape).toEqual([16, 64]);
    expect(m.w('transformer.h.0.mlp.c_proj.weight').shape).toEqual([64, 16]);
    expect(m.w('transformer.ln_f.bias').shape).toEqual([16]);
    expect(m.w('v_head.summary.weight').shape).toEqual([1, 16]);
    expect(m.w('v_head.summary.bias').shape).toEqual([1]);
    expect(m.w('score.weight').shape).toEqual([1, 16]);
    expect(m.weights.size).toBe(2 + 2 * 12 + 2 + 3);
    m.dispose();
  });

  it('is seeded: same seed gives the same weights, another seed different ones', () => {
    const [a, b, c] = [tinyModel({}, 7), tinyModel({}, 7), tinyModel({}, 8)];
    const w = (m: typeof a) => m.w('transformer.h.0.attn.c_attn.weight').dataSync();
    expect(maxAbsDiff(w(a), w(b))).toBe(0);
    expect(maxAbsDiff(w(a), w(c))).toBeGreaterThan(0);
    // residual projections use std 0.02/sqrt(2·layers)
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a.w('transformer.h.0.mlp.c_proj.weight').dataSync())).toBeCloseTo(0.01, 2);
    expect(std(w(a))).toBeCloseTo(0.02, 2);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('starts with a loss close to ln(vocab)', () => {
    const m = tinyModel();
    const loss = tf.tidy(() => m.lmLoss(lmBatch(4, 24)).dataSync()[0]);
    expect(Math.abs(loss - Math.log(tok.vocabSize))).toBeLessThan(0.1);
    m.dispose();
  });

  it('analytic gradients match central finite differences (embeddings, attention, LayerNorm, MLP)', () => {
    const m = tinyModel({ layers: 1, width: 8, heads: 2, context: 8 }, 3);
    perturb(m.weights.values(), 5);
    const batch = lmBatch(2, 6);
    const names = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_proj.bias', 'transformer.h.0.ln_1.weight', 'transformer.h.0.mlp.c_fc.weight', 'transformer.ln_f.bias'];
    expect(gradCheck(names.map((n) => m.w(n)), () => m.lmLoss(batch))).toBeGreaterThanOrEqual(names.length);
    m.dispose();
  });

  it('analytic gradients match finite differences for the value/reward heads and LoRA adapters', () => {
    const m = tinyModel({ layers: 1, width: 8, heads: 2, context: 8 }, 4, ['value', 'reward']);
    perturb(m.weights.values(), 6);
    const lora = m.addLora({ r: 2, alpha: 4, targets: ['c_attn', 'mlp.c_proj'] });
    perturb(lora.named().values(), 7);
    const b = lmBatch(2, 6);
    const t = toTensors(b);
    const loss = () => tf.addN([tf.mean(m.rewards(t.ids, t.mask, t.lastIndex!)), tf.mean(tf.square(m.values(t.ids, t.mask))), m.lmLoss(b)]) as tf.Scalar;
    const vars = [m.w('score.weight'), m.w('v_head.summary.weight'), m.w('v_head.summary.bias'), ...lora.named().values()];
    expect(gradCheck(vars, loss)).toBeGreaterThanOrEqual(vars.length);
    tf.dispose(Object.values(t).filter((x): x is tf.Tensor => x instanceof tf.Tensor));
    m.dispose();
  });

  it('overfits one batch, with a flat tensor count across steps', () => {
    const m = tinyModel({ width: 32, heads: 4 }, 2);
    const params = m.trainable();
    const vars = [...params.values()];
    const opt = new AdamW(params, { lr: 1e-2 });
    const batch = lmBatch(2, 24);
    const losses: number[] = [];
    let count = -1;
    for (let s = 0; s < 50; s++) {
      const { value, grads } = tf.variableGrads(() => m.lmLoss(batch, { training: true }), vars);
      losses.push(value.dataSync()[0]);
      opt.apply(new Map([...params].map(([n, v]) => [n, grads[v.name]])));
      value.dispose();
      tf.dispose(grads);
      if (s === 1) count = tf.memory().numTensors;
      if (s > 1) expect(tf.memory().numTensors).toBe(count);
    }
    expect(losses[0]).toBeGreaterThan(3);
    expect(losses[49]).toBeLessThan(0.5 * losses[0]);
    expect(losses[49]).toBeLessThan(1);
    opt.dispose();
    m.dispose();
  });

  it('gives the same logits for real tokens with left or right padding', () => {
    const m = tinyModel({}, 4);
    const rows = [tok.encode('Four score and seven'), tok.encode('years ago')].map((ids) => ({ ids, loss: ids.map(() => 1) }));
    const run = (side: 'left' | 'right') => {
      const b = collate(rows, tok.padId, { side, shift: false });
      const out = tf.tidy(() => m.logits(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T])).arraySync() as number[][][]);
      // real positions of each row, in order
      return out.map((row, i) => row.filter((_, t) => b.mask[i * b.T + t] === 1));
    };
    const [l, r] = [run('left'), run('right')];
    expect(l[1]).toHaveLength(rows[1].ids.length);
    expect(maxAbsDiff(l[1].flat(), r[1].flat())).toBeLessThan(1e-5);
    expect(maxAbsDiff(l[0].flat(), r[0].flat())).toBeLessThan(1e-5);
    // and the short row's logits equal those of the row alone, unpadded
    const alone = tf.tidy(() => m.logits(tf.tensor2d([rows[1].ids], undefined, 'int32')).arraySync() as number[][][]);
    expect(maxAbsDiff(alone[0].flat(), r[1].flat())).toBeLessThan(1e-5);
    m.dispose();
  });

  it('keeps packed segments independent (attention and positions restart)', () => {
    const m = tinyModel({}, 5);
    const a = tok.encode('Now we are');
    const b = tok.encode('in a great war');
    const packed = tf.tidy(() =>
      m.logits(tf.tensor2d([[...a, ...b]], undefined, 'int32'), undefined, { segments: tf.tensor2d([[...a.map(() => 0), ...b.map(() => 1)]], undefined, 'int32') }).arraySync(),
    ) as number[][][];
    const alone = tf.tidy(() => m.logits(tf.tensor2d([b], undefined, 'int32')).arraySync()) as number[][][];
    expect(maxAbsDiff(packed[0].slice(a.length).flat(), alone[0].flat())).toBeLessThan(1e-5);
    m.dispose();
  });

  it('computes the loss only where targetsMask is 1', () => {
    const m = tinyModel({}, 6);
    const ids = tok.encode('conceived in Liberty');
    const full = collate([{ ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) }], tok.padId);
    const half = collate([{ ids, loss: ids.map((_, i) => (i > 10 ? 1 : 0)) }], tok.padId);
    const [lf, lh, lp] = tf.tidy(() => {
      const b = toTensors(full);
      const lp = m.tokenLogProbs(b.ids, b.mask, b.targets);
      return [m.lmLoss(full).dataSync()[0], m.lmLoss(half).dataSync()[0], Array.from(lp.dataSync())];
    }) as [number, number, number[]];
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(lf).toBeCloseTo(-mean(lp), 5);
    expect(lh).toBeCloseTo(-mean(lp.slice(10)), 5);
    m.dispose();
  });

  it('value head [B,T], reward head read at the last real token [B], entropy [B,T]', () => {
    const m = tinyModel({}, 7, ['value', 'reward']);
    const rows = [tok.encode('all men are created equal'), tok.encode('long endure')].map((ids) => ({ ids, loss: ids.map(() => 1) }));
    const b = collate(rows, tok.padId, { shift: false });
    const padded = collate(rows, tok.padId, { shift: false, fixedT: b.T + 3 });
    tf.tidy(() => {
      const t = toTensors(b);
      const v = m.values(t.ids, t.mask);
      expect(v.shape).toEqual([2, b.T]);
      const r = m.rewards(t.ids, t.mask, t.lastIndex!);
      expect(r.shape).toEqual([2]);
      // reward = score head on the hidden state at lastIndex; extra padding does not change it
      const p = toTensors(padded);
      expect(maxAbsDiff(r.dataSync(), m.rewards(p.ids, p.mask, p.lastIndex!).dataSync())).toBeLessThan(1e-5);
      const h = m.hidden(t.ids, t.mask).arraySync() as number[][][];
      const w = m.w('score.weight').dataSync();
      const expected = [0, 1].map((i) => h[i][b.lastIndex[i]].reduce((s, x, j) => s + x * w[j], 0));
      expect(maxAbsDiff(r.dataSync(), expected)).toBeLessThan(1e-5);
      const e = entropy(m.logits(t.ids, t.mask));
      expect(e.shape).toEqual([2, b.T]);
      const ed = e.dataSync();
      for (const x of ed) expect(x).toBeGreaterThan(0);
      for (const x of ed) expect(x).toBeLessThanOrEqual(Math.log(tok.vocabSize) + 1e-4);
    });
    m.dispose();
  });

  it('dropout is active only in training and is seeded', () => {
    const a = tinyModel({ dropout: 0.5 }, 9);
    const b = lmBatch(2, 16);
    const evalLoss = [0, 1].map(() => tf.tidy(() => a.lmLoss(b).dataSync()[0]));
    expect(evalLoss[0]).toBe(evalLoss[1]);
    const train = [0, 1].map(() => tf.tidy(() => a.lmLoss(b, { training: true }).dataSync()[0]));
    expect(train[0]).not.toBe(train[1]);
    const c = tinyModel({ dropout: 0.5 }, 9);
    expect(tf.tidy(() => c.lmLoss(b, { training: true }).dataSync()[0])).toBe(train[0]);
    a.dispose();
    c.dispose();
  });

  it('rejects sequences longer than the context with a clear message', () => {
    const m = tinyModel({ context: 8 });
    expect(() => tf.tidy(() => m.logits(tf.zeros([1, 9], 'int32')))).toThrow(/exceeds the model's context of 8/);
    m.dispose();
  });
});


describe('ops', () => {
  it('gelu is GPT-2 gelu_new; log-softmax is stable for large logits; pick selects per row', async () => {
    const { gelu, logSoftmax, pick } = await import('../../../runtime/model/ops.ts');
    const xs = [-6, -3, -1, -0.5, 0, 0.3, 1, 2.5, 6];
    const ref = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    tf.tidy(() => {
      expect(maxAbsDiff(gelu(tf.tensor1d(xs)).dataSync(), ref)).toBeLessThan(1e-6);
      const lp = logSoftmax(tf.tensor2d([[1e4, 1e4 - 1, -1e4]])).dataSync();
      const z = Math.log(1 + Math.exp(-1));
      expect(maxAbsDiff(lp.slice(0, 2), [-z, -1 - z])).toBeLessThan(1e-4);
      expect(Number.isFinite(lp[2])).toBe(true);
      expect(Array.from(pick(tf.tensor2d([[1, 2, 3], [4, 5, 6]]), tf.tensor1d([2, 0], 'int32')).dataSync())).toEqual([3, 4]);
    });
  });
});
