import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from '../../../runtime/optim.ts';
import { lmBatch, maxAbsDiff, tinyModel, useCpu } from '../helpers.ts';

beforeAll(useCpu);

const logitsOf = (m: ReturnType<typeof tinyModel>, b = lmBatch(2, 16)) => tf.tidy(() => Array.from(m.logits(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T])).dataSync()));

describe('LoRA', () => {
  it('starts equal to the base model and has PEFT names and shapes', () => {
    const m = tinyModel({}, 1);
    const base = logitsOf(m);
    const lora = m.addLora({ r: 4, alpha: 8, targets: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'] });
    expect(maxAbsDiff(base, logitsOf(m))).toBe(0);
    const named = lora.named();
    expect(named.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')!.shape).toEqual([4, 16]);
    expect(named.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')!.shape).toEqual([48, 4]);
    expect(named.get('base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight')!.shape).toEqual([4, 64]);
    expect(named.get('base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight')!.shape).toEqual([64, 4]);
    expect(named.size).toBe(2 * 4 * 2);
    // A is kaiming-uniform: bounded by 1/sqrt(in) and not all zero
    const a = named.get('base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight')!.dataSync();
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.05);
    m.dispose();
  });

  it('trains only adapters (and heads): base weights stay bit-identical; merge equals the adapter forward', () => {
    const m = tinyModel({}, 2, ['value']);
    const before = new Map([...m.weights].filter(([n]) => n.startsWith('transformer.')).map(([n, v]) => [n, v.dataSync().slice()]));
    const base = logitsOf(m);
    m.addLora({ r: 4, alpha: 16, dropout: 0.1, targets: ['c_attn', 'c_fc'] });
    const params = m.trainable();
    expect([...params.keys()].every((n) => n.includes('lora_') || n.startsWith('v_head.'))).toBe(true);
    expect(params.has('v_head.summary.weight')).toBe(true);
    const vars = [...params.values()];
    const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.01 });
    const batch = lmBatch(2, 16);
    const losses: number[] = [];
    let stepCount = -1;
    for (let s = 0; s < 15; s++) {
      const { value, grads } = tf.variableGrads(() => tf.add(m.lmLoss(batch, { training: true }), tf.mean(tf.square(m.values(tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32'))))) as tf.Scalar, vars);
      losses.push(value.dataSync()[0]);
      opt.apply(new Map([...params].map(([n, v]) => [n, grads[v.name]])));
      value.dispose();
      tf.dispose(grads);
      if (s === 1) stepCount = tf.memory().numTensors;
      if (s > 1) expect(tf.memory().numTensors).toBe(stepCount);
    }
    expect(losses[14]).toBeLessThan(losses[0]);
    for (const [n, d] of before) expect(maxAbsDiff(d, m.w(n).dataSync()), n).toBe(0);
    const adapted = logitsOf(m);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);

    // disabled = the reference (base) model, no second copy of the weights
    m.lora!.enabled = false;
    expect(maxAbsDiff(logitsOf(m), base)).toBe(0);
    m.lora!.enabled = true;

    const count = tf.memory().numTensors;
    m.mergeLora();
    expect(tf.memory().numTensors).toBe(count);
    expect(maxAbsDiff(logitsOf(m), adapted)).toBeLessThan(1e-4);
    m.unmergeLora();
    expect(maxAbsDiff(logitsOf(m), adapted)).toBeLessThan(1e-4);
    for (const [n, d] of before) expect(maxAbsDiff(d, m.w(n).dataSync()), n).toBeLessThan(1e-6);
    // merge, then drop the adapters: the plain model keeps the adapted behaviour, adapter tensors are freed
    const withAdapters = tf.memory().numTensors;
    m.mergeLora();
    m.removeLora();
    expect(tf.memory().numTensors).toBe(withAdapters - 8);
    expect(maxAbsDiff(logitsOf(m), adapted)).toBeLessThan(1e-4);
    opt.dispose();
    m.dispose();
  });

  it('rejects targets that select nothing', () => {
    const m = tinyModel();
    expect(() => m.addLora({ r: 2, alpha: 2, targets: [] })).toThrow(/select no projection/);
    m.dispose();
  });
});
