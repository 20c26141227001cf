import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { toTensors } from '../../../runtime/model/batch.ts';
import { generate } from '../../../runtime/model/decode.ts';
import { Llama, type LlamaConfig, ropeFrequencies } from '../../../runtime/model/llama.ts';
import { repeatKv, rmsNorm, rotary, swiglu } from '../../../runtime/model/ops.ts';
import { AdamW } from '../../../runtime/optim.ts';
import { collate } from '../../../runtime/train/examples.ts';
import { UserError } from '../../../core/diagnostics.ts';
import { gradCheck, lmBatch, maxAbsDiff, perturb, tok, useCpu } from '../helpers.ts';

beforeAll(useCpu);

function tinyLlama(over: Partial<LlamaConfig> = {}, seed = 1, heads: ('value' | 'reward')[] = []): Llama {
  const config: LlamaConfig = {
    family: 'qwen3',
    vocabSize: tok.vocabSize,
    context: 32,
    width: 16,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 6,
    intermediate: 24,
    rmsNormEps: 1e-6,
    rope: { type: 'default', theta: 10000 },
    tie: false,
    qkvBias: true,
    oBias: true,
    mlpBias: false,
    qkNorm: true,
    dropout: 0,
    ...over,
  };
  return new Llama(config, { seed, heads });
}

describe('Llama-family model', () => {
  it('has the exact Hugging Face names and nn.Linear shapes (GQA, head_dim ≠ width/heads, biases, q/k norm, untied head)', () => {
    const m = tinyLlama({}, 1, ['value', 'reward']);
    const V = tok.vocabSize;
    expect(m.w('model.embed_tokens.weight').shape).toEqual([V, 16]);
    expect(m.w('model.layers.1.self_attn.q_proj.weight').shape).toEqual([24, 16]);
    expect(m.w('model.layers.1.self_attn.k_proj.weight').shape).toEqual([12, 16]);
    expect(m.w('model.layers.1.self_attn.v_proj.bias').shape).toEqual([12]);
    expect(m.w('model.layers.1.self_attn.o_proj.weight').shape).toEqual([16, 24]);
    expect(m.w('model.layers.0.self_attn.q_norm.weight').shape).toEqual([6]);
    expect(m.w('model.layers.0.mlp.gate_proj.weight').shape).toEqual([24, 16]);
    expect(m.w('model.layers.0.mlp.down_proj.weight').shape).toEqual([16, 24]);
    expect(m.w('model.norm.weight').shape).toEqual([16]);
    expect(m.w('lm_head.weight').shape).toEqual([V, 16]);
    expect(m.w('score.weight').shape).toEqual([1, 16]);
    const tied = tinyLlama({ tie: true, qkvBias: false, oBias: false, qkNorm: false });
    expect(tied.weights.has('lm_head.weight')).toBe(false);
    expect(tied.weights.has('model.layers.0.self_attn.q_proj.bias')).toBe(false);
    expect(tied.weights.has('model.layers.0.self_attn.q_norm.weight')).toBe(false);
    m.dispose();
    tied.dispose();
  });

  it('RMSNorm, rotation, SwiGLU and repeat_kv match hand values', () => {
    tf.tidy(() => {
      // RMSNorm of [3, 4]: rms = √((9 + 16)/2) = √12.5
      const y = rmsNorm(tf.tensor2d([[3, 4]]), tf.tensor1d([1, 2]), 0).dataSync();
      expect(maxAbsDiff(y, [3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)])).toBeLessThan(1e-6);
      // rotation of (x1, x2) = (1, 0) by angle a: (cos a, sin a) with rotate_half = (−x2, x1)
      const a = 0.7;
      const r = rotary(tf.tensor4d([1, 0], [1, 1, 1, 2]), tf.fill([1, 1, 1, 2], Math.cos(a)), tf.fill([1, 1, 1, 2], Math.sin(a))).dataSync();
      expect(maxAbsDiff(r, [Math.cos(a), Math.sin(a)])).toBeLessThan(1e-6);
      const s = swiglu(tf.tensor1d([2]), tf.tensor1d([3])).dataSync()[0];
      expect(Math.abs(s - (2 / (1 + Math.exp(-2))) * 3)).toBeLessThan(1e-5);
      // K=2 heads repeated for 4 query heads: [k0, k0, k1, k1]
      const k = repeatKv(tf.tensor4d([1, 2], [1, 2, 1, 1]), 2).dataSync();
      expect(Array.from(k)).toEqual([1, 1, 2, 2]);
    });
    // default rope: θ^(−2i/D); linear divides by the factor; llama3 keeps high frequencies and divides low ones
    const d = ropeFrequencies({ type: 'default', theta: 100 }, 4, 16).invFreq;
    expect(maxAbsDiff(d, [1, 0.1])).toBeLessThan(1e-7);
    expect(maxAbsDiff(ropeFrequencies({ type: 'linear', theta: 100, factor: 4 }, 4, 16).invFreq, [0.25, 0.025])).toBeLessThan(1e-7);
    const l3 = ropeFrequencies({ type: 'llama3', theta: 100, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 40 }, 4, 16).invFreq;
    expect(maxAbsDiff(l3, [1, 0.1 / 8])).toBeLessThan(1e-7); // wavelengths 2π (< 10: kept) and 62.8 (> 40: divided)
  });

  it('analytic gradients match central finite differences (embeddings, rotary GQA attention, biases, RMSNorm, q/k norm, SwiGLU, untied head)', () => {
    const m = tinyLlama({ layers: 1, width: 8, heads: 4, kvHeads: 2, headDim: 4, intermediate: 12, context: 8 }, 3);
    perturb(m.weights.values(), 5);
    const batch = lmBatch(2, 6);
    const names = [
      'model.embed_tokens.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.v_proj.bias',
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.self_attn.q_norm.weight',
      'model.layers.0.self_attn.k_norm.weight',
      'model.layers.0.mlp.gate_proj.weight',
      'model.layers.0.mlp.up_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.norm.weight',
      'lm_head.weight',
    ];
    expect(gradCheck(names.map((n) => m.w(n)), () => m.lmLoss(batch))).toBeGreaterThanOrEqual(names.length);
    m.dispose();
  });

  it('analytic gradients match finite differences for the value/reward heads and LoRA adapters (PEFT names)', () => {
    const m = tinyLlama({ layers: 1, width: 8, heads: 2, kvHeads: 1, headDim: 4, intermediate: 12, context: 8, rope: { type: 'linear', theta: 100, factor: 2 } }, 4, ['value', 'reward']);
    perturb(m.weights.values(), 6);
    const lora = m.addLora({ r: 2, alpha: 4, targets: ['q_proj', 'v_proj', 'down_proj'] });
    expect([...lora.named().keys()]).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    perturb(lora.named().values(), 7);
    const b = lmBatch(2, 6);
    const t = toTensors(b);
    const loss = () => tf.addN([tf.mean(m.rewards(t.ids, t.mask, t.lastIndex!)), tf.mean(tf.square(m.values(t.ids, t.mask))), m.lmLoss(b)]) as tf.Scalar;
    const vars = [m.w('score.weight'), m.w('v_head.summary.weight'), m.w('v_head.summary.bias'), ...lora.named().values()];
    expect(gradCheck(vars, loss)).toBeGreaterThanOrEqual(vars.length);
    // merging folds B·A into the [out, in] weights: the same logits
    const before = tf.tidy(() => m.logits(t.ids, t.mask).dataSync());
    m.mergeLora();
    const merged = tf.tidy(() => m.logits(t.ids, t.mask).dataSync());
    expect(maxAbsDiff(before, merged)).toBeLessThan(1e-4);
    tf.dispose(Object.values(t).filter((x): x is tf.Tensor => x instanceof tf.Tensor));
    m.dispose();
  });

  it('refuses LoRA targets of another family, listing the valid ones', () => {
    const m = tinyLlama();
    let e: unknown;
    try {
      m.addLora({ r: 2, alpha: 4, targets: ['c_attn', 'q_proj'] });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(/lora targets "c_attn" is not a projection of a qwen3 model/);
    expect((e as UserError).diagnostics[0].notes?.[0]).toMatch(/all-linear, q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
    const all = m.addLora({ r: 2, alpha: 4, targets: ['all-linear'] });
    expect(all.adapters.size).toBe(2 * 7);
    m.dispose();
  });

  it('overfits one batch with a flat tensor count across steps', () => {
    const m = tinyLlama({ width: 32, heads: 4, kvHeads: 2, headDim: 8, intermediate: 48 }, 2);
    const params = m.trainable();
    const vars = [...params.values()];
    const opt = new AdamW(params, { lr: 1e-2 });
    const batch = lmBatch(2, 24);
    const losses: number[] = [];
    let count = -1;
    for (let s = 0; s < 40; s++) {
      const { value, grads } = tf.variableGrads(() => m.lmLoss(batch, { training: true }), vars);
      losses.push(value.dataSync()[0]);
      opt.apply(new Map([...params].map(([n, v]) => [n, grads[v.name]])));
      value.dispose();
      tf.dispose(grads);
      if (s === 1) count = tf.memory().numTensors;
      if (s > 1) expect(tf.memory().numTensors).toBe(count);
    }
    expect(losses[39]).toBeLessThan(0.5 * losses[0]);
    opt.dispose();
    m.dispose();
  });

  it('gives the same logits for real tokens with left or right padding, and samples the same with or without the KV cache', async () => {
    const m = tinyLlama({ windows: [undefined, 5] }, 4);
    perturb(m.weights.values(), 9);
    const rows = [tok.encode('Four score and seven'), tok.encode('years ago')].map((ids) => ({ ids, loss: ids.map(() => 1) }));
    const run = (side: 'left' | 'right') => {
      const b = collate(rows, tok.padId, { side, shift: false });
      const out = tf.tidy(() => m.logits(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T])).arraySync() as number[][][]);
      return out.map((row, i) => row.filter((_, t) => b.mask[i * b.T + t] === 1));
    };
    const [l, r] = [run('left'), run('right')];
    expect(maxAbsDiff(l[1].flat(), r[1].flat())).toBeLessThan(1e-5);
    expect(maxAbsDiff(l[0].flat(), r[0].flat())).toBeLessThan(1e-5);
    const prompts = [tok.encode('Four'), tok.encode('years ago our')];
    const count = tf.memory().numTensors;
    const o = { maxNewTokens: 12, temperature: 1, eosId: tok.vocabSize, padId: tok.padId, seed: 3 };
    const a = await generate(m, prompts, { ...o, useCache: true });
    const b = await generate(m, prompts, { ...o, useCache: false });
    expect(a.tokens).toEqual(b.tokens);
    expect(tf.memory().numTensors).toBe(count);
    m.dispose();
  });
});
