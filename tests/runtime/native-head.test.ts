// The fused LM head + log-softmax at the targets (runtime/native NativeHeadLogProb, through
// runtime/model/ops.ts `headLogProbs`): values and gradients in the hidden states against the cpu
// backend's composite (head product, log-softmax, pick) with vocabularies spanning several of the
// kernel's vocabulary blocks, several row chunks, a temperature and an out-of-range target; central
// finite differences of the native gradient; the no-gradient path; the fallback when the head weight
// is trainable; and a LoRA Llama's (tied and untied) and GPT-2's loss and gradients on both backends.
// Also the frozen projection with its LoRA adapter in one output buffer (NativeMatMul2 through ops.ts
// `linearLoraT`): value and gradients in x, A and B against the cpu composite and finite differences.
// Skipped when the addon is not built, unless RLHFC_REQUIRE_NATIVE=1.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../runtime/native/addon.ts';
import { registerNative } from '../../runtime/native/backend.ts';
import { Llama, type LlamaConfig } from '../../runtime/model/llama.ts';
import { GPT } from '../../runtime/model/gpt.ts';
import type { LoraTarget } from '../../runtime/model/lora.ts';
import { headLogProbs, linearLoraT } from '../../runtime/model/ops.ts';
import { Rng } from '../../runtime/rng.ts';
import { lmBatch, tinyConfig } from './helpers.ts';

const available = loadAddon().addon !== undefined;
const required = process.env.RLHFC_REQUIRE_NATIVE === '1';

const rnd = (shape: number[], seed: number, lo = -1, hi = 1) => {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next());
};

/** Worst |a − b| / max(1, |a|). */
const worst = (a: Float32Array, b: Float32Array) => {
  expect(b.length).toBe(a.length);
  let w = 0;
  a.forEach((x, i) => (w = Math.max(w, Math.abs(x - b[i]) / Math.max(1, Math.abs(x)))));
  return w;
};

type Case = { B: number; T: number; C: number; V: number; temperature: number; targets: Int32Array; frozen: boolean };

/** On `backend`: the log-probs and the gradients of Σ lp·r in hidden (and in w when not frozen). */
async function run(backend: string, c: Case, seed: number) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const h = tf.tensor(rnd([c.B, c.T, c.C], seed, -2, 2), [c.B, c.T, c.C]);
    const w = tf.tensor(rnd([c.V, c.C], seed + 1), [c.V, c.C]) as tf.Tensor2D;
    const t = tf.tensor(c.targets, [c.B, c.T], 'int32');
    const r = tf.tensor(rnd([c.B, c.T], seed + 2), [c.B, c.T]);
    const lp = headLogProbs(h, w, t, c.temperature, c.frozen);
    const loss = (hh: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(headLogProbs(hh, ww as tf.Tensor2D, t, c.temperature, c.frozen), r)) as tf.Scalar;
    const g = c.frozen ? [tf.grad((hh: tf.Tensor) => loss(hh, w))(h)] : tf.grads(loss)([h, w]);
    return [lp, ...g];
  });
  const res = outs.map((o) => ({ shape: o.shape, data: Float32Array.from(o.dataSync()) }));
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  return res;
}

const targets = (n: number, V: number, seed: number, extra: number[] = []) => {
  const r = new Rng(seed);
  return Int32Array.from({ length: n }, (_, i) => (i < extra.length ? extra[i] : Math.floor(r.next() * V)));
};

describe.skipIf(!available && !required)('native fused LM head (NativeHeadLogProb)', () => {
  beforeAll(() => {
    expect(available).toBe(true);
    expect(registerNative().ok).toBe(true);
  });

  const cases: [string, Case][] = [
    // 70 rows: several row chunks on the pool; V = 5000: two full vocabulary blocks and a partial one
    ['frozen, 70 rows, V 5000', { B: 2, T: 35, C: 24, V: 5000, temperature: 1, targets: targets(70, 5000, 1, [0, 4999, 2047, 2048, 4096]), frozen: true }],
    ['frozen, temperature 0.7', { B: 3, T: 7, C: 16, V: 4200, temperature: 0.7, targets: targets(21, 4200, 2, [4199, 0]), frozen: true }],
    ['frozen, a target out of range', { B: 1, T: 5, C: 8, V: 2100, temperature: 1, targets: Int32Array.of(3, -1, 2099, 2100, 7), frozen: true }],
    ['trainable head (the composite path, gradient in w)', { B: 2, T: 4, C: 8, V: 3000, temperature: 1.5, targets: targets(8, 3000, 3), frozen: false }],
  ];
  for (const [name, c] of cases) {
    it(`${name}: log-probs and gradients equal the cpu composite`, async () => {
      const cpu = await run('cpu', c, 11);
      const nat = await run('native', c, 11);
      expect(nat.length).toBe(cpu.length);
      cpu.forEach((o, i) => {
        expect(nat[i].shape).toEqual(o.shape);
        expect(worst(o.data, nat[i].data), `output ${i}`).toBeLessThanOrEqual(1e-4);
      });
      // log-probs are log-probs: negative, and not all equal (a test that can fail)
      expect(Math.max(...cpu[0].data)).toBeLessThanOrEqual(0);
      expect(new Set(cpu[0].data).size).toBeGreaterThan(1);
      if (c.targets.some((t) => t < 0 || t >= c.V)) {
        c.targets.forEach((t, i) => {
          if (t >= 0 && t < c.V) return;
          expect(nat[0].data[i]).toBe(0);
          for (let j = 0; j < c.C; j++) expect(nat[1].data[i * c.C + j]).toBe(0);
        });
      }
    });
  }

  it('the gradient in the hidden states against central finite differences', async () => {
    await tf.setBackend('native');
    const [B, T, C, V] = [1, 3, 4, 2100];
    const h0 = rnd([B, T, C], 21, -1, 1);
    const w = tf.tensor(rnd([V, C], 22, -2, 2), [V, C]) as tf.Tensor2D;
    const t = tf.tensor(Int32Array.of(5, 2090, 1024), [B, T], 'int32');
    const r = tf.tensor(Float32Array.of(0.7, -1.3, 0.4), [B, T]);
    const before = tf.memory().numTensors;
    const loss = (h: tf.Tensor) => tf.sum(tf.mul(headLogProbs(h, w, t, 0.8, true), r)) as tf.Scalar;
    const g = tf.tidy(() => tf.grad(loss)(tf.tensor(h0, [B, T, C])).dataSync());
    const at = (v: Float32Array) => tf.tidy(() => loss(tf.tensor(v, [B, T, C])).dataSync()[0]);
    const eps = 1e-2;
    for (let j = 0; j < h0.length; j++) {
      const p = Float32Array.from(h0);
      const m = Float32Array.from(h0);
      p[j] += eps;
      m[j] -= eps;
      const fd = (at(p) - at(m)) / (2 * eps);
      expect(Math.abs(fd - g[j]), `h[${j}]: finite difference ${fd}, gradient ${g[j]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
    }
    expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-2);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, t, r]);
  });

  it('without a gradient being recorded: the same log-probs, nothing kept', async () => {
    const c: Case = { B: 2, T: 9, C: 12, V: 3333, temperature: 1, targets: targets(18, 3333, 4), frozen: false };
    const cpu = await run('cpu', { ...c, frozen: true }, 5);
    await tf.setBackend('native');
    const before = tf.memory().numTensors;
    const lp = tf.tidy(() =>
      headLogProbs(tf.tensor(rnd([c.B, c.T, c.C], 5, -2, 2), [c.B, c.T, c.C]), tf.tensor(rnd([c.V, c.C], 6), [c.V, c.C]) as tf.Tensor2D, tf.tensor(c.targets, [c.B, c.T], 'int32'), 1, false),
    );
    expect(lp.shape).toEqual([c.B, c.T]);
    expect(worst(cpu[0].data, Float32Array.from(lp.dataSync()))).toBeLessThanOrEqual(1e-4);
    lp.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  /** LM loss and every LoRA gradient of a model built by `make` on cpu and native (adapters given random B so they matter). */
  async function modelLossAndGrads(make: () => Llama | GPT, targets: LoraTarget[]) {
    const batch = lmBatch(3, 12);
    const out: { loss: number; grads: Map<string, Float32Array> }[] = [];
    for (const backend of ['cpu', 'native']) {
      await tf.setBackend(backend);
      const m = make();
      for (const v of m.weights.values()) tf.tidy(() => v.assign(tf.mul(v, 3))); // sharper distributions (×8 with a tied head is ill-conditioned: cpu and native differ by 3e-4 on the old path too)
      m.addLora({ r: 2, alpha: 4, targets } as never);
      for (const v of m.trainable().values()) if (v.name.includes('lora')) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', 3)));
      const named = [...m.trainable().entries()];
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => m.lmLoss(batch, { training: true }), named.map(([, v]) => v));
      out.push({ loss: value.dataSync()[0], grads: new Map(named.map(([k, v]) => [k, Float32Array.from(grads[v.name].dataSync())])) });
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    }
    const [c, n] = out;
    expect(n.grads.size).toBe(c.grads.size);
    expect(Math.abs(c.loss - n.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(c.loss));
    for (const [name, g] of c.grads) {
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      const ng = n.grads.get(name)!;
      g.forEach((x, j) => expect(Math.abs(x - ng[j]), name).toBeLessThan(2e-4 * scale));
    }
  }

  const llama = (tie: boolean): LlamaConfig => ({
    family: 'llama', vocabSize: 2500, context: 32, width: 24, layers: 2, heads: 6, kvHeads: 2, headDim: 8, intermediate: 40, rmsNormEps: 1e-6,
    rope: { type: 'default', theta: 10000 }, tie, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0,
  }) as LlamaConfig;
  const all: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as LoraTarget[];
  it('a LoRA Llama (tied head, vocabulary 2,500): loss and gradients equal the cpu backend', () => modelLossAndGrads(() => new Llama(llama(true), { seed: 4 }), all));
  it('a LoRA Llama (untied lm_head): loss and gradients equal the cpu backend', () => modelLossAndGrads(() => new Llama(llama(false), { seed: 5 }), all));
  it('a LoRA GPT-2 (tied wte, vocabulary 2,300): loss and gradients equal the cpu backend', () =>
    modelLossAndGrads(() => new GPT(tinyConfig({ vocabSize: 2300 }), { seed: 6 }), ['c_attn', 'c_proj', 'c_fc'] as LoraTarget[]));
});

describe.skipIf(!available && !required)('native LoRA projection (NativeMatMul2)', () => {
  beforeAll(() => {
    expect(registerNative().ok).toBe(true);
  });

  /** y = linearLoraT(x, w, b, A, B, 2) and the gradients of Σ y·r in x, A, B on `backend`. */
  async function lora(backend: string, shape: { lead: number[]; inDim: number; out: number; r: number; bias: boolean }) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const { lead, inDim, out, r } = shape;
    const outs = tf.tidy(() => {
      const x = tf.tensor(rnd([...lead, inDim], 31, -2, 2), [...lead, inDim]);
      const w = tf.tensor(rnd([out, inDim], 32), [out, inDim]) as tf.Tensor2D;
      const b = shape.bias ? (tf.tensor(rnd([out], 33), [out]) as tf.Tensor1D) : undefined;
      const A = tf.tensor(rnd([r, inDim], 34), [r, inDim]) as tf.Tensor2D;
      const B = tf.tensor(rnd([out, r], 35), [out, r]) as tf.Tensor2D;
      const rr = tf.tensor(rnd([...lead, out], 36), [...lead, out]);
      const f = (xx: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) => linearLoraT(xx, w, b, aa as tf.Tensor2D, bb as tf.Tensor2D, 2);
      return [f(x, A, B), ...tf.grads((xx: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, aa, bb), rr)))([x, A, B])];
    });
    const res = outs.map((o) => ({ shape: o.shape, data: Float32Array.from(o.dataSync()) }));
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before);
    return res;
  }

  for (const shape of [
    { lead: [2, 37], inDim: 40, out: 56, r: 4, bias: false }, // several row blocks on the pool
    { lead: [3, 5], inDim: 24, out: 18, r: 2, bias: true },
    { lead: [1, 200], inDim: 96, out: 160, r: 8, bias: false }, // above the threading threshold
  ]) {
    it(`x [${shape.lead},${shape.inDim}] → ${shape.out}, r ${shape.r}${shape.bias ? ', bias' : ''}: value and gradients equal the cpu composite`, async () => {
      const cpu = await lora('cpu', shape);
      const nat = await lora('native', shape);
      cpu.forEach((o, i) => {
        expect(nat[i].shape).toEqual(o.shape);
        expect(worst(o.data, nat[i].data), `output ${i}`).toBeLessThanOrEqual(1e-4);
        expect(Math.max(...Array.from(o.data, Math.abs)), `output ${i}`).toBeGreaterThan(1e-3);
      });
    });
  }

  it('gradients in x, A and B against central finite differences', async () => {
    await tf.setBackend('native');
    const [N, I, O, R] = [3, 4, 5, 2];
    const init = [rnd([N, I], 41, -1, 1), rnd([R, I], 42, -1, 1), rnd([O, R], 43, -1, 1)];
    const shapes = [[N, I], [R, I], [O, R]];
    const w = tf.tensor(rnd([O, I], 44, -1, 1), [O, I]) as tf.Tensor2D;
    const rr = tf.tensor(rnd([N, O], 45, -1, 1), [N, O]);
    const before = tf.memory().numTensors;
    const loss = (x: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(linearLoraT(x, w, undefined, a as tf.Tensor2D, b as tf.Tensor2D, 1.5), rr)) as tf.Scalar;
    const grads = tf.tidy(() => tf.grads(loss)(init.map((v, i) => tf.tensor(v, shapes[i]))).map((g) => Float32Array.from(g.dataSync())));
    const at = (vals: Float32Array[]) => tf.tidy(() => (loss as (...t: tf.Tensor[]) => tf.Scalar)(...vals.map((v, i) => tf.tensor(v, shapes[i]))).dataSync()[0]);
    const eps = 1e-2;
    for (let which = 0; which < 3; which++) {
      for (let j = 0; j < init[which].length; j++) {
        const p = init.map((v) => Float32Array.from(v));
        const m = init.map((v) => Float32Array.from(v));
        p[which][j] += eps;
        m[which][j] -= eps;
        const fd = (at(p) - at(m)) / (2 * eps);
        expect(Math.abs(fd - grads[which][j]), `input ${which}[${j}]: finite difference ${fd}, gradient ${grads[which][j]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, rr]);
  });
});
