// The Llama family's fused native kernels (runtime/native: NativeRMSNorm, NativeRope, NativeSwiGLU,
// grouped-query NativeAttention and NativeAttentionCached): each forward and gradient against the cpu
// backend's composed ops (runtime/model/ops.ts picks the kernel on native, the composition on cpu) and
// against central finite differences; grouped-query attention with H/K = 1, 3 and 4 under causal,
// padding and sliding-window biases; a GQA Llama's in-place KV cache against the concatenating cache
// and the uncached forward, with greedy continuations; and a whole Qwen3-style model's loss and
// gradients on both backends. Skipped when the addon is not built, unless RLHFC_REQUIRE_NATIVE=1.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../runtime/native/addon.ts';
import { registerNative } from '../../runtime/native/backend.ts';
import { generate } from '../../runtime/model/decode.ts';
import { Llama, type LlamaConfig, ropeFrequencies } from '../../runtime/model/llama.ts';
import { attention, repeatKv, rmsNorm, rotary, swiglu } from '../../runtime/model/ops.ts';
import { Rng } from '../../runtime/rng.ts';
import { lmBatch, tok } from './helpers.ts';

const available = loadAddon().addon !== undefined;
const required = process.env.RLHFC_REQUIRE_NATIVE === '1';

const rnd = (shape: number[], seed: number, lo = -2, hi = 2) => {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next()) };
};
type Spec = { shape: number[]; data: Float32Array };

/** `f` on the cpu and the native backend with the same inputs → [cpu, native] outputs (shape, values). */
async function both(inputs: Spec[], f: (...t: tf.Tensor[]) => tf.Tensor[]) {
  const res: { shape: number[]; data: Float32Array }[][] = [];
  for (const name of ['cpu', 'native']) {
    await tf.setBackend(name);
    const before = tf.memory().numTensors;
    const outs = tf.tidy(() => f(...inputs.map((s) => tf.tensor(s.data, s.shape))));
    res.push(outs.map((o) => ({ shape: o.shape, data: Float32Array.from(o.dataSync()) })));
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before);
  }
  return res as [(typeof res)[0], (typeof res)[0]];
}

/** cpu and native outputs agree within tol·max(1, |cpu|) element by element. */
async function agree(inputs: Spec[], f: (...t: tf.Tensor[]) => tf.Tensor[], tol: number) {
  const [c, n] = await both(inputs, f);
  expect(n.length).toBe(c.length);
  c.forEach((co, i) => {
    expect(n[i].shape).toEqual(co.shape);
    let worst = 0;
    co.data.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - n[i].data[j]) / Math.max(1, Math.abs(x)))));
    expect(worst, `output ${i}`).toBeLessThanOrEqual(tol);
  });
}

/** Value and gradients of Σ f(x…)·r in the differentiable inputs (the first `nDiff`). */
function withGrads(nDiff: number, f: (...t: tf.Tensor[]) => tf.Tensor) {
  return (...t: tf.Tensor[]) => {
    const y = f(...t);
    const r = tf.tensor(rnd(y.shape, 77).data, y.shape);
    const g = tf.grads((...d: tf.Tensor[]) => tf.sum(tf.mul(f(...d, ...t.slice(nDiff)), r)))(t.slice(0, nDiff));
    return [y, ...g];
  };
}

/**
 * On native: every entry of the gradient of Σ f(x…)·r against central differences (h = 1e-2 in float32;
 * |fd − g| < 2e-3 + 1e-2·|fd|), with the tensor count unchanged.
 */
async function finiteDifferences(inputs: Spec[], nDiff: number, f: (...t: tf.Tensor[]) => tf.Tensor) {
  await tf.setBackend('native');
  const before = tf.memory().numTensors;
  const shapeOut = tf.tidy(() => f(...inputs.map((s) => tf.tensor(s.data, s.shape))).shape);
  const r = tf.tensor(rnd(shapeOut, 78).data, shapeOut);
  const loss = (...t: tf.Tensor[]) => tf.sum(tf.mul(f(...t), r)) as tf.Scalar;
  const at = (vals: Float32Array[]) => tf.tidy(() => loss(...vals.map((v, i) => tf.tensor(v, inputs[i].shape))).dataSync()[0]);
  const grads = tf.tidy(() => {
    const ts = inputs.map((s) => tf.tensor(s.data, s.shape));
    return tf.grads((...d: tf.Tensor[]) => loss(...d, ...ts.slice(nDiff)))(ts.slice(0, nDiff)).map((g) => Float32Array.from(g.dataSync()));
  });
  const h = 1e-2;
  let checked = 0;
  for (let which = 0; which < nDiff; which++) {
    for (let j = 0; j < inputs[which].data.length; j++) {
      const plus = inputs.map((s) => Float32Array.from(s.data));
      const minus = inputs.map((s) => Float32Array.from(s.data));
      plus[which][j] += h;
      minus[which][j] -= h;
      const fd = (at(plus) - at(minus)) / (2 * h);
      expect(Math.abs(fd - grads[which][j]), `input ${which}[${j}]: finite difference ${fd}, gradient ${grads[which][j]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
      checked++;
    }
  }
  r.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return checked;
}

/** Additive bias [B,1,T,T]: causal, keys masked by `lengths` (right padding, or left with `left`), and a sliding window. */
function maskBias(B: number, T: number, o: { lengths?: number[]; left?: boolean; window?: number } = {}): Spec {
  const data = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    const n = o.lengths?.[b] ?? T;
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const real = o.left ? j >= T - n : j < n;
        const ok = j <= i && real && (o.window === undefined || i - j < o.window);
        data[(b * T + i) * T + j] = ok ? 0 : -1e9;
      }
    }
  }
  return { shape: [B, 1, T, T], data };
}

/** cos, sin [Bc,1,T,D] of a rope at positions (per row when Bc > 1), scaled like yarn's attention factor. */
function cosSin(Bc: number, T: number, D: number, scaling = 1): [Spec, Spec] {
  const { invFreq } = ropeFrequencies({ type: 'default', theta: 100 }, D, 64);
  const c = new Float32Array(Bc * T * D);
  const s = new Float32Array(Bc * T * D);
  for (let b = 0; b < Bc; b++) {
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < D; i++) {
        const a = (t + 3 * b) * invFreq[i % (D / 2)];
        c[(b * T + t) * D + i] = Math.cos(a) * scaling;
        s[(b * T + t) * D + i] = Math.sin(a) * scaling;
      }
    }
  }
  return [
    { shape: [Bc, 1, T, D], data: c },
    { shape: [Bc, 1, T, D], data: s },
  ];
}

function llamaConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    family: 'qwen3', vocabSize: tok.vocabSize, context: 32, width: 24, layers: 2, heads: 6, kvHeads: 2, headDim: 8, intermediate: 40, rmsNormEps: 1e-6,
    rope: { type: 'yarn', theta: 10000, factor: 2, originalMaxPositions: 16 }, tie: false, qkvBias: false, oBias: false, mlpBias: false, qkNorm: true, dropout: 0, windows: [4, undefined], ...over,
  };
}

describe.skipIf(!available && !required)('native Llama kernels', () => {
  it('registers the backend', async () => {
    expect(registerNative().ok).toBe(true);
    await tf.setBackend('native');
    expect(tf.getBackend()).toBe('native');
  });

  it('RMSNorm (rows of odd width, and per head over head_dim as Qwen3 q/k norm) matches the composed op with dx and dw (≤ 2e-5)', async () => {
    for (const [shape, eps] of [
      [[7, 37], 1e-6],
      [[2, 5, 3, 8], 1e-5],
      [[1, 1, 1, 1], 0.5],
    ] as [number[], number][]) {
      const C = shape[shape.length - 1];
      await agree([rnd(shape, 1), rnd([C], 2, 0.5, 1.5)], withGrads(2, (x, w) => rmsNorm(x, w as tf.Tensor1D, eps)), 2e-5);
    }
  });

  it('rotary embedding in both layouts (heads split by a reshape, or [B,n,T,D]), per-row positions and yarn scaling matches x·cos + rotate_half(x)·sin, with its gradient (≤ 1e-5)', async () => {
    const [B, n, T, D] = [2, 3, 5, 8];
    for (const Bc of [1, B]) {
      for (const scaling of [1, 1.2]) {
        const [c, s] = cosSin(Bc, T, D, scaling);
        await agree([rnd([B, n, T, D], 3), c, s], withGrads(1, (x, cc, ss) => rotary(x as tf.Tensor4D, cc, ss)), 1e-5);
        await agree([rnd([B, T, n, D], 4), c, s], withGrads(1, (x, cc, ss) => rotary(x as tf.Tensor4D, cc, ss, true)), 1e-5);
      }
    }
    // the native layout option is the transpose of the plain one, exactly
    await tf.setBackend('native');
    const [c, s] = cosSin(1, T, D).map((x) => tf.tensor(x.data, x.shape));
    const x = tf.tensor(rnd([B, T, n, D], 5).data, [B, T, n, D]) as tf.Tensor4D;
    const a = tf.tidy(() => rotary(x, c, s, true).dataSync());
    const b = tf.tidy(() => rotary(tf.transpose(x, [0, 2, 1, 3]), c, s).dataSync());
    expect(Array.from(a)).toEqual(Array.from(b));
    tf.dispose([c, s, x]);
  });

  it('SwiGLU matches silu(gate)·up with dgate and dup (≤ 1e-5), also for large |gate|', async () => {
    await agree([rnd([3, 4, 33], 6, -4, 4), rnd([3, 4, 33], 7)], withGrads(2, (g, u) => swiglu(g, u)), 1e-5);
    await agree([rnd([5000], 8, -30, 30), rnd([5000], 9)], withGrads(2, (g, u) => swiglu(g, u)), 1e-5);
  });

  it('RMSNorm, rotary embedding and SwiGLU gradients match finite differences, with no tensor left behind', async () => {
    expect(await finiteDifferences([rnd([3, 6], 10), rnd([6], 11, 0.5, 1.5)], 2, (x, w) => rmsNorm(x, w as tf.Tensor1D, 1e-6))).toBe(24);
    const [c, s] = cosSin(2, 3, 4, 1.3);
    expect(await finiteDifferences([rnd([2, 3, 2, 4], 12), c, s], 1, (x, cc, ss) => rotary(x as tf.Tensor4D, cc, ss, true))).toBe(48);
    expect(await finiteDifferences([rnd([2, 2, 3, 4], 13), c, s], 1, (x, cc, ss) => rotary(x as tf.Tensor4D, cc, ss))).toBe(48);
    expect(await finiteDifferences([rnd([2, 7], 14, -3, 3), rnd([2, 7], 15)], 2, (g, u) => swiglu(g, u))).toBe(28);
  });

  it('grouped-query attention (H/K = 1, 3, 4) reads kv heads in place: output and dq, dk, dv match repeat_kv + attention on cpu (≤ 2e-5), under causal, padding and sliding-window biases', async () => {
    const [B, T, D] = [2, 6, 4];
    for (const [H, K] of [
      [3, 3],
      [6, 2],
      [8, 2],
    ]) {
      for (const bias of [maskBias(B, T), maskBias(B, T, { lengths: [6, 4], left: true }), maskBias(B, T, { lengths: [5, 6], window: 3 }), maskBias(1, T, { window: 2 })]) {
        const f = withGrads(3, (q, k, v, bb) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, bb));
        await agree([rnd([B, H, T, D], H), rnd([B, K, T, D], H + 1), rnd([B, K, T, D], H + 2), bias], f, 2e-5);
      }
    }
    // on native, the grouped kernel gives exactly the numbers of the kernel over repeated heads; dk, dv are the group sums
    await tf.setBackend('native');
    const [q, k, v] = [rnd([B, 6, T, D], 20), rnd([B, 2, T, D], 21), rnd([B, 2, T, D], 22)].map((s) => tf.tensor4d(s.data, s.shape as [number, number, number, number]));
    const bias = tf.tensor(maskBias(B, T, { window: 4 }).data, [B, 1, T, T]);
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, bias), tf.range(0, q.size).reshape(q.shape).div(q.size)));
    const grouped = tf.tidy(() => [attention(q, k, v, bias), ...tf.grads(loss)([q, k, v])].map((t) => Array.from(t.dataSync())));
    const repeated = tf.tidy(() => {
      const [kr, vr] = [repeatKv(k, 3), repeatKv(v, 3)];
      const [dq, dkr, dvr] = tf.grads(loss)([q, kr, vr]);
      const sumGroups = (d: tf.Tensor) => tf.sum(tf.reshape(d, [B, 2, 3, T, D]), 2);
      return [attention(q, kr, vr, bias), dq, sumGroups(dkr), sumGroups(dvr)].map((t) => Array.from(t.dataSync()));
    });
    expect(grouped[0]).toEqual(repeated[0]);
    expect(grouped[1]).toEqual(repeated[1]);
    for (const i of [2, 3]) grouped[i].forEach((x, j) => expect(Math.abs(x - repeated[i][j])).toBeLessThan(1e-6));
    expect(() => attention(q, tf.zeros([B, 4, T, D]) as tf.Tensor4D, tf.zeros([B, 4, T, D]) as tf.Tensor4D, bias)).toThrow(/6 query heads are not a multiple of 4/);
    tf.dispose([q, k, v, bias]);
  });

  it('grouped-query attention gradients (H/K = 3, sliding window, right padding) match finite differences', async () => {
    const [B, H, K, T, D] = [2, 3, 1, 4, 3];
    const bias = maskBias(B, T, { lengths: [4, 3], window: 3 });
    const n = await finiteDifferences([rnd([B, H, T, D], 30), rnd([B, K, T, D], 31), rnd([B, K, T, D], 32), bias], 3, (q, k, v, bb) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, bb));
    expect(n).toBe(B * H * T * D + 2 * B * K * T * D);
  });

  it('a Qwen3-style model (GQA, q/k norm, yarn rope, a sliding-window layer, LoRA on every projection) gives the cpu backend\'s loss and gradients', async () => {
    const batch = lmBatch(3, 12);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const m = new Llama(llamaConfig(), { seed: 4 });
      for (const v of m.weights.values()) tf.tidy(() => v.assign(tf.mul(v, 8)));
      m.addLora({ r: 2, alpha: 4, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] } as never);
      for (const v of m.trainable().values()) if (v.name.includes('lora')) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', 3)));
      const named = [...m.trainable().entries()];
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => m.lmLoss(batch), named.map(([, v]) => v));
      const out = { loss: value.dataSync()[0], grads: Object.fromEntries(named.map(([k, v]) => [k, Array.from(grads[v.name].dataSync())])) };
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
      return out;
    };
    const cpu = await run('cpu');
    const nat = await run('native');
    expect(Object.keys(nat.grads).length).toBe(2 * 7 * 2);
    expect(Math.abs(cpu.loss - nat.loss)).toBeLessThan(1e-5 * Math.abs(cpu.loss));
    for (const [k, g] of Object.entries(cpu.grads)) {
      const scale = Math.max(...g.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      g.forEach((x, j) => expect(Math.abs(x - nat.grads[k][j]), k).toBeLessThan(2e-4 * scale));
    }
  });

  it('a Llama forward and backward on native runs the fused kernels (no repeat_kv Tile, no composed RMSNorm, SwiGLU or softmax), the cpu backend the composed ops', async () => {
    const batch = lmBatch(2, 10);
    const names = async (backend: string) => {
      await tf.setBackend(backend);
      const m = new Llama(llamaConfig(), { seed: 6 });
      const vars = [...m.trainable().values()];
      const p = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => m.lmLoss(batch), vars);
        tf.dispose([value, ...Object.values(grads)]);
      });
      m.dispose();
      return { kernels: new Set(p.kernels.map((k) => k.name)), count: p.kernels.length };
    };
    const nat = await names('native');
    for (const k of ['NativeRMSNorm', 'NativeRMSNormGrad', 'NativeRope', 'NativeSwiGLU', 'NativeSwiGLUGrad', 'NativeAttention', 'NativeAttentionGrad']) expect(nat.kernels.has(k), k).toBe(true);
    for (const k of ['Tile', 'Rsqrt', 'Sigmoid', 'Softmax']) expect(nat.kernels.has(k), k).toBe(false);
    const cpu = await names('cpu');
    for (const k of ['Tile', 'Rsqrt', 'Sigmoid', 'Softmax']) expect(cpu.kernels.has(k), k).toBe(true);
    expect(nat.count).toBeLessThan(cpu.count * 0.75);
  });

  it('a GQA model samples with the in-place KV cache: logits bit-identical to the concatenating cache and within 1e-4 of the uncached forward, greedy tokens identical, no tensor left behind', async () => {
    await tf.setBackend('native');
    const m = new Llama(llamaConfig({ family: 'mistral', qkNorm: false, rope: { type: 'default', theta: 10000 }, windows: [3, 3] }), { seed: 5 });
    for (const v of m.weights.values()) tf.tidy(() => v.assign(tf.mul(v, 10)));
    const before = tf.memory().numTensors;
    const rng = new Rng(9);
    const B = 3;
    const steps = [5, 1, 1, 2, 1].map((T) => tf.tensor2d(Array.from({ length: B * T }, () => 1 + rng.int(m.config.vocabSize - 1)), [B, T], 'int32'));
    const slots = m.kvSlots(B, 12)!;
    expect(slots.k[0].shape).toEqual([B, 2, 12, 8]);
    let cache: { k: tf.Tensor4D[]; v: tf.Tensor4D[] } | undefined;
    const seen: tf.Tensor[] = [];
    let len = 0;
    for (const ids of steps) {
      const T = ids.shape[1];
      len += T;
      seen.push(ids);
      const mask = tf.tensor2d(Array.from({ length: B * len }, (_, i) => (i % len === 0 && Math.floor(i / len) === 1 ? 0 : 1)), [B, len]); // row 1 left-padded
      const inPlace = tf.tidy(() => Array.from(m.head(m.forward(ids, mask, { kv: slots }).hidden).dataSync()));
      const [logits, ...kv] = tf.tidy(() => {
        const r = m.forward(ids, mask, { past: cache, returnCache: true });
        return [m.head(r.hidden), ...r.cache!.k, ...r.cache!.v];
      });
      const concat = Array.from(logits.dataSync());
      const full = tf.tidy(() => Array.from(tf.slice(m.logits(tf.concat(seen, 1), mask), [0, len - T, 0], [B, T, -1]).dataSync()));
      if (cache) tf.dispose([...cache.k, ...cache.v]);
      cache = { k: kv.slice(0, kv.length / 2) as tf.Tensor4D[], v: kv.slice(kv.length / 2) as tf.Tensor4D[] };
      tf.dispose([logits, mask]);
      expect(inPlace).toEqual(concat);
      const worst = Math.max(...full.map((x, j) => Math.abs(x - inPlace[j]) / Math.max(1, Math.abs(x))));
      expect(worst).toBeLessThan(1e-4);
    }
    tf.dispose([...slots.k, ...slots.v, ...cache!.k, ...cache!.v, ...steps]);
    expect(tf.memory().numTensors).toBe(before);
    const o = { maxNewTokens: 14, temperature: 0, eosId: tok.vocabSize, padId: 0 };
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]];
    const a = await generate(m, prompts, { ...o, useCache: true });
    const b = await generate(m, prompts, { ...o, useCache: false });
    expect(a.tokens).toEqual(b.tokens);
    expect(new Set(a.tokens.flat()).size).toBeGreaterThan(3);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
