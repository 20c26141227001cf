import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, accumulateGrads, clipByGlobalNorm, defaultDecay, learningRate } from '../../runtime/optim.ts';
import { useCpu } from './helpers.ts';

beforeAll(useCpu);

describe('AdamW', () => {
  it('matches hand-computed PyTorch AdamW numbers for two steps', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const b = tf.variable(tf.tensor1d([0.5]));
    const opt = new AdamW(new Map([['layer.weight', w], ['layer.bias', b]]), { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 });
    opt.apply(new Map([['layer.weight', tf.tensor1d([0.5, -1])], ['layer.bias', tf.tensor1d([2])]]));
    // step 1: m̂ = g, v̂ = g², update = g/|g| = sign(g); decay: w·(1 − lr·wd) = w·0.95
    expect(Array.from(w.dataSync())[0]).toBeCloseTo(1 * 0.95 - 0.1, 6);
    expect(Array.from(w.dataSync())[1]).toBeCloseTo(-2 * 0.95 + 0.1, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.5 - 0.1, 6); // bias: no decay
    opt.apply(new Map([['layer.weight', tf.tensor1d([0.25, -1])], ['layer.bias', tf.tensor1d([2])]]));
    // step 2 for w[0]: m = 0.9·0.05 + 0.1·0.25 … computed in full:
    const m = 0.9 * (0.1 * 0.5) + 0.1 * 0.25;
    const v = 0.999 * (0.001 * 0.25) + 0.001 * 0.0625;
    const mhat = m / (1 - 0.9 ** 2);
    const vhat = v / (1 - 0.999 ** 2);
    const w1 = 0.85;
    expect(w.dataSync()[0]).toBeCloseTo(w1 * 0.95 - (0.1 * mhat) / (Math.sqrt(vhat) + 1e-8), 5);
    expect(opt.step).toBe(2);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it("default decay is Transformers' Trainer rule: everything but biases and LayerNorm/RMSNorm weights", () => {
    // tests/interop/pretrain-lockstep.test.ts compares it with Trainer.get_decay_parameter_names on GPT-2, Llama and Qwen3
    expect(defaultDecay('transformer.h.0.attn.c_attn.weight')).toBe(true);
    expect(defaultDecay('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')).toBe(true);
    expect(defaultDecay('transformer.wte.weight')).toBe(true); // embeddings decay (and the LM head tied to wte)
    expect(defaultDecay('transformer.wpe.weight')).toBe(true);
    expect(defaultDecay('model.embed_tokens.weight')).toBe(true);
    expect(defaultDecay('score.weight')).toBe(true);
    expect(defaultDecay('transformer.h.0.attn.c_attn.bias')).toBe(false);
    expect(defaultDecay('v_head.summary.bias')).toBe(false);
    expect(defaultDecay('transformer.h.3.ln_2.weight')).toBe(false);
    expect(defaultDecay('transformer.ln_f.weight')).toBe(false);
    expect(defaultDecay('model.layers.0.input_layernorm.weight')).toBe(false); // RMSNorm weights (decayed before)
    expect(defaultDecay('model.layers.0.self_attn.q_norm.weight')).toBe(false);
    expect(defaultDecay('model.norm.weight')).toBe(false);
  });

  it('exports and imports its state: a resumed optimizer continues identically', async () => {
    const mk = () => tf.variable(tf.tensor1d([0.3, -0.7, 1.1]));
    const grad = (s: number) => new Map([['p.weight', tf.tensor1d([0.1 * s, -0.2, 0.05 * s * s])]]);
    const a = mk();
    const oa = new AdamW(new Map([['p.weight', a]]), { lr: 0.05, weightDecay: 0.1 });
    for (let s = 1; s <= 3; s++) oa.apply(grad(s));
    const state = JSON.parse(JSON.stringify(await oa.exportState()));
    const b = tf.variable(a.clone());
    const ob = new AdamW(new Map([['p.weight', b]]), { lr: 0.05, weightDecay: 0.1 });
    ob.importState(state);
    oa.apply(grad(4));
    ob.apply(grad(4));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(ob.step).toBe(4);
    oa.dispose();
    ob.dispose();
  });
});

describe('gradient utilities', () => {
  it('clips by global norm and returns the pre-clip norm', async () => {
    const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([4])]]);
    expect(await clipByGlobalNorm(g, 1)).toBeCloseTo(5, 5);
    expect(g.get('a')!.dataSync()[0]).toBeCloseTo(0.6, 5);
    expect(g.get('b')!.dataSync()[0]).toBeCloseTo(0.8, 5);
    expect(await clipByGlobalNorm(g, 10)).toBeCloseTo(1, 4); // below the limit: unchanged
    expect(g.get('b')!.dataSync()[0]).toBeCloseTo(0.8, 5);
    tf.dispose([...g.values()]);
  });

  it('accumulating micro-batches equals one big batch', async () => {
    const w = tf.variable(tf.tensor1d([0.5, -1]));
    const xs = [[1, 2], [3, -1], [0.5, 0.5], [2, 2]];
    const loss = (rows: number[][]) => tf.mean(tf.square(tf.sum(tf.mul(tf.tensor2d(rows), w), 1))) as tf.Scalar;
    const params = new Map([['w', w]]);
    const before = tf.memory().numTensors;
    const acc = accumulateGrads(params, 2, (i) => loss(xs.slice(2 * i, 2 * i + 2)));
    const full = accumulateGrads(params, 1, () => loss(xs));
    expect(await acc.loss).toBeCloseTo(await full.loss, 5);
    expect(Array.from(acc.grads.get('w')!.dataSync())).toEqual(Array.from(full.grads.get('w')!.dataSync()).map((x) => expect.closeTo(x, 5)));
    tf.dispose([...acc.grads.values(), ...full.grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    w.dispose();
  });
});

describe('learning-rate schedules', () => {
  const base = { lr: 1e-3, warmupSteps: 10, totalSteps: 110 };
  it('warms up linearly from 0 at step 0 (as Transformers), then holds / decays linearly / decays with a cosine to the min ratio', () => {
    expect(learningRate(0, { ...base, kind: 'constant' })).toBe(0);
    expect(learningRate(1, { ...base, kind: 'constant' })).toBeCloseTo(1e-4, 10);
    expect(learningRate(9, { ...base, kind: 'constant' })).toBeCloseTo(9e-4, 10);
    expect(learningRate(10, { ...base, kind: 'cosine' })).toBeCloseTo(1e-3, 10);
    expect(learningRate(100, { ...base, kind: 'constant' })).toBeCloseTo(1e-3, 10);
    expect(learningRate(60, { ...base, kind: 'linear' })).toBeCloseTo(5e-4, 10);
    expect(learningRate(110, { ...base, kind: 'linear' })).toBeCloseTo(0, 10);
    expect(learningRate(60, { ...base, kind: 'cosine' })).toBeCloseTo(5e-4, 10);
    expect(learningRate(35, { ...base, kind: 'cosine' })).toBeCloseTo(1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 10);
    expect(learningRate(110, { ...base, kind: 'cosine', minLrRatio: 0.1 })).toBeCloseTo(1e-4, 10);
    expect(learningRate(500, { ...base, kind: 'linear', minLrRatio: 0.1 })).toBeCloseTo(1e-4, 10);
    expect(learningRate(0, { ...base, warmupSteps: 0, kind: 'constant' })).toBe(1e-3); // no warm-up: the full rate at once
  });
});
