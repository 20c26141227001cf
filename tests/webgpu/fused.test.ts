// The fused WGSL kernels of runtime/webgpu/ (attention.ts, norm.ts) against the cpu backend's
// composite ops (runtime/model/ops.ts attention and layerNorm, llama.ts rmsNorm) and against central
// finite differences of their own forward kernels, on small shapes:
// - attention: causal masks with padded keys (left padding: a fully masked query row), a bias per batch row and one shared by the batch, cached
//   positions (L > T), grouped-query heads (K < H, against the cpu composite over repeated kv heads),
//   and a head size over 128 (the second accumulator per thread). Values and dq, dk, dv within 2e-5 of
//   each tensor's largest magnitude (float32 sums in another order); finite differences (step 1e-2,
//   float32) within 2e-3.
// - LayerNorm and RMSNorm: values, dx and the weight (and bias) gradients within 2e-5; rows wider than
//   a workgroup (C = 300); finite differences within 2e-3.
// - the KV cache written in place (sampling): a prompt of 3 positions then 3 single steps, grouped-query
//   heads, against the cpu composite over the concatenated keys (2e-5), and its refusal of a cache
//   whose buffer another tensor shares.
// Each case leaves the tensor count where it found it. The model-level checks (GPT and Llama on these
// kernels against cpu, no synchronous reads) are in model.test.ts; here, which kernels a step runs.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { attendCached, attention, kvBuffer, layerNorm, repeatKv, rmsNorm } from '../../runtime/model/ops.ts';
import { Rng } from '../../runtime/rng.ts';
import { relDiff, runWebGPU, skipLine } from './available.ts';

skipLine('webgpu fused kernels');

function normal(seed: number, n: number, s = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => s * r.normal());
}

/** Central differences of `f` (a scalar of the inputs) at a few entries of input `which`. */
async function finiteDiffs(inputs: Float32Array[], shapes: number[][], which: number, at: number[], f: (ts: tf.Tensor[]) => tf.Scalar): Promise<number[]> {
  const h = 1e-2;
  const out: number[] = [];
  for (const i of at) {
    const val = async (d: number) => {
      const xs = inputs.map((x) => x.slice());
      xs[which][i] += d;
      const ts = xs.map((x, j) => tf.tensor(x, shapes[j]));
      const y = tf.tidy(() => f(ts));
      const v = (await y.data())[0];
      tf.dispose([...ts, y]);
      return v;
    };
    out.push(((await val(h)) - (await val(-h))) / (2 * h));
  }
  return out;
}

interface AttnCase {
  name: string;
  B: number;
  H: number;
  K: number;
  T: number;
  past: number;
  D: number;
  sharedBias: boolean;
  /** Batch row 1's first key padded (left padding): its first query row is masked entirely. */
  leftPad?: boolean;
}

const ATTN: AttnCase[] = [
  { name: 'causal, padded keys, a bias per row, 11 queries (two blocks of 8)', B: 2, H: 2, K: 2, T: 11, past: 0, D: 8, sharedBias: false },
  { name: 'cached positions (L > T), one bias for the batch', B: 2, H: 3, K: 3, T: 3, past: 4, D: 5, sharedBias: true },
  { name: 'grouped-query (4 query heads on 2 kv heads)', B: 2, H: 4, K: 2, T: 5, past: 1, D: 8, sharedBias: false },
  { name: 'left padding: a fully masked query row', B: 2, H: 2, K: 1, T: 4, past: 0, D: 4, sharedBias: false, leftPad: true },
  { name: 'head size 130 (over one workgroup), 140 keys (two chunks)', B: 1, H: 2, K: 1, T: 2, past: 138, D: 130, sharedBias: true },
];

/** Additive bias [Bb,1,T,L]: causal over past + T keys, and (a bias per row) the last key of rows ≥ 1 padded, or the first (leftPad). */
function biasOf(c: AttnCase): { data: Float32Array; shape: number[] } {
  const L = c.past + c.T;
  const Bb = c.sharedBias ? 1 : c.B;
  const data = new Float32Array(Bb * c.T * L);
  for (let b = 0; b < Bb; b++)
    for (let t = 0; t < c.T; t++)
      for (let j = 0; j < L; j++) {
        const allowed = j <= c.past + t && (c.sharedBias || b === 0 || (c.leftPad ? j > 0 : j < L - 1));
        data[(b * c.T + t) * L + j] = allowed ? 0 : -1e9;
      }
  return { data, shape: [Bb, 1, c.T, L] };
}

describe.skipIf(!runWebGPU)('webgpu fused kernels', () => {
  for (const c of ATTN) {
    it(`attention (${c.name}): values and dq, dk, dv equal the cpu composite and finite differences; flat tensor count`, async () => {
      const L = c.past + c.T;
      const shapes: [number, number, number, number][] = [
        [c.B, c.H, c.T, c.D],
        [c.B, c.K, L, c.D],
        [c.B, c.K, L, c.D],
      ];
      const inputs = shapes.map((s, i) => normal(10 + i, s.reduce((a, b) => a * b, 1)));
      const r = normal(20, c.B * c.H * c.T * c.D);
      const bias = biasOf(c);
      const run = async (backend: string) => {
        await initBackend(backend);
        const before = tf.memory().numTensors;
        const [q, k, v] = inputs.map((x, i) => tf.tensor(x, shapes[i]) as tf.Tensor4D);
        const bt = tf.tensor(bias.data, bias.shape);
        const rt = tf.tensor(r, shapes[0]);
        // cpu: the composite over the kv heads repeated for their query heads (transformers' repeat_kv)
        const f = (qq: tf.Tensor4D, kk: tf.Tensor4D, vv: tf.Tensor4D) =>
          backend === 'cpu' ? attention(qq, repeatKv(kk, c.H / c.K), repeatKv(vv, c.H / c.K), bt) : attention(qq, kk, vv, bt);
        const y = tf.tidy(() => f(q, k, v));
        const g = tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(f(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D), rt)))([q, k, v]);
        const out = { y: await y.data(), g: await Promise.all(g.map((t) => t.data())), fd: [] as [number, number][] };
        if (backend === 'webgpu') {
          const loss = (ts: tf.Tensor[]) => tf.sum(tf.mul(f(ts[0] as tf.Tensor4D, ts[1] as tf.Tensor4D, ts[2] as tf.Tensor4D), rt)) as tf.Scalar;
          for (let which = 0; which < 3; which++) {
            const n = inputs[which].length;
            // left padding: differences in batch row 0 only — in a fully masked row the scores vanish
            // in −1e9 + s (float32), so the computed function is flat there while the gradient (the
            // composite's too) is that of the exact expression
            const at = c.leftPad ? [0, Math.floor(n / 4), n / 2 - 1] : [0, Math.floor(n / 3), n - 1];
            const fd = await finiteDiffs(inputs, shapes, which, at, loss);
            at.forEach((i, j) => out.fd.push([fd[j], out.g[which][i]]));
          }
        }
        tf.dispose([q, k, v, bt, rt, y, ...g]);
        expect(tf.memory().numTensors).toBe(before);
        return out;
      };
      const cpu = await run('cpu');
      const gpu = await run('webgpu');
      expect(relDiff(gpu.y, cpu.y)).toBeLessThan(2e-5);
      ['dq', 'dk', 'dv'].forEach((n, i) => expect(relDiff(gpu.g[i], cpu.g[i]), n).toBeLessThan(2e-5));
      for (const [fd, an] of gpu.fd) expect(Math.abs(fd - an)).toBeLessThan(2e-3 * Math.max(1, Math.abs(an)));
      // the padded last key of batch row 1 gets no gradient (a bias per row), in either kv head
      if (!c.sharedBias && !c.leftPad && c.B > 1) {
        for (let h = 0; h < c.K; h++) {
          const at = ((c.K + h) * L + L - 1) * c.D;
          for (const g of [gpu.g[1], gpu.g[2]]) expect(Math.max(...Array.from(g.slice(at, at + c.D)).map(Math.abs))).toBe(0);
        }
      }
    });
  }

  for (const [kind, C] of [
    ['layer', 37],
    ['layer', 300],
    ['rms', 37],
    ['rms', 300],
  ] as const) {
    it(`${kind === 'layer' ? 'LayerNorm' : 'RMSNorm'} over ${C} columns: values, dx, dw${kind === 'layer' ? ', dβ' : ''} equal the cpu composite and finite differences; flat tensor count`, async () => {
      const shapes = [[3, 5, C], [C], [C]];
      const inputs = [normal(1, 15 * C, 2).map((x, i) => x + (i % 7)), normal(2, C), normal(3, C)];
      const r = normal(4, 15 * C);
      const eps = 1e-5;
      const run = async (backend: string) => {
        await initBackend(backend);
        const before = tf.memory().numTensors;
        const ts = inputs.map((x, i) => tf.tensor(x, shapes[i]));
        const rt = tf.tensor(r, shapes[0]);
        const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => (kind === 'layer' ? layerNorm(x, w as tf.Tensor1D, b as tf.Tensor1D, eps) : rmsNorm(x, w as tf.Tensor1D, eps));
        const loss = (xs: tf.Tensor[]) => tf.sum(tf.mul(f(xs[0], xs[1], xs[2]), rt)) as tf.Scalar;
        const y = tf.tidy(() => f(ts[0], ts[1], ts[2]));
        const n = kind === 'layer' ? 3 : 2;
        const g = tf.grads((...xs: tf.Tensor[]) => loss(kind === 'layer' ? xs : [...xs, ts[2]]))(ts.slice(0, n));
        const out = { y: await y.data(), g: await Promise.all(g.map((t) => t.data())), fd: [] as [number, number][] };
        if (backend === 'webgpu') {
          for (let which = 0; which < n; which++) {
            const size = inputs[which].length;
            const at = [0, Math.floor(size / 2), size - 1];
            const fd = await finiteDiffs(inputs, shapes, which, at, loss);
            at.forEach((i, j) => out.fd.push([fd[j], out.g[which][i]]));
          }
        }
        tf.dispose([...ts, rt, y, ...g]);
        expect(tf.memory().numTensors).toBe(before);
        return out;
      };
      const cpu = await run('cpu');
      const gpu = await run('webgpu');
      expect(relDiff(gpu.y, cpu.y)).toBeLessThan(2e-5);
      cpu.g.forEach((gc, i) => expect(relDiff(gpu.g[i], gc), ['dx', 'dw', 'dβ'][i]).toBeLessThan(2e-5));
      for (const [fd, an] of gpu.fd) expect(Math.abs(fd - an)).toBeLessThan(2e-3 * Math.max(1, Math.abs(an)));
    });
  }

  it('attention over a KV cache written in place (a prompt, then single steps; grouped-query heads) equals the cpu composite over the concatenated keys; flat tensor count', async () => {
    const [B, H, K, D, S] = [2, 4, 2, 6, 8];
    const steps = [3, 1, 1, 1];
    const parts = steps.map((T, i) => ({ T, q: normal(30 + i, B * H * T * D), k: normal(40 + i, B * K * T * D), v: normal(50 + i, B * K * T * D) }));
    // the second row's first key is padding
    const biasFor = (past: number, T: number) => {
      const L = past + T;
      const data = new Float32Array(B * T * L);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let j = 0; j < L; j++) data[(b * T + t) * L + j] = j <= past + t && !(b === 1 && j === 0) ? 0 : -1e9;
      return tf.tensor(data, [B, 1, T, L]);
    };
    const outs: Record<string, Float32Array[]> = {};
    for (const backend of ['cpu', 'webgpu']) {
      await initBackend(backend);
      const before = tf.memory().numTensors;
      const caches = backend === 'webgpu' ? [kvBuffer([B, K, S, D])!, kvBuffer([B, K, S, D])!] : undefined;
      let ks: tf.Tensor4D | undefined;
      let vs: tf.Tensor4D | undefined;
      let past = 0;
      outs[backend] = [];
      for (const p of parts) {
        const y = tf.tidy(() => {
          const [q, k, v] = [tf.tensor4d(p.q, [B, H, p.T, D]), tf.tensor4d(p.k, [B, K, p.T, D]), tf.tensor4d(p.v, [B, K, p.T, D])];
          const bias = biasFor(past, p.T);
          if (caches) return attendCached(q, k, v, caches[0], caches[1], past, bias);
          const kk = ks ? tf.concat([ks, k], 2) : k;
          const vv = vs ? tf.concat([vs, v], 2) : v;
          tf.dispose([ks!, vs!].filter(Boolean));
          ks = tf.keep(kk as tf.Tensor4D);
          vs = tf.keep(vv as tf.Tensor4D);
          return attention(q, repeatKv(kk as tf.Tensor4D, H / K), repeatKv(vv as tf.Tensor4D, H / K), bias);
        });
        outs[backend].push((await y.data()) as Float32Array);
        y.dispose();
        past += p.T;
      }
      tf.dispose([...(caches ?? []), ...[ks!, vs!].filter(Boolean)]);
      expect(tf.memory().numTensors).toBe(before);
    }
    outs.cpu.forEach((c, i) => expect(relDiff(outs.webgpu[i], c), `step ${i}`).toBeLessThan(2e-5));
    // a cache whose buffer another tensor shares is refused (the write would change that tensor too)
    const kc = kvBuffer([1, 1, 4, 2])!;
    const alias = tf.reshape(kc, [1, 1, 4, 2]);
    const vc = kvBuffer([1, 1, 4, 2])!;
    const x = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
    const bias = tf.zeros([1, 1, 1, 1]);
    expect(() => attendCached(x, x, x, kc, vc, 0, bias)).toThrow(/own buffers: false/);
    tf.dispose([kc, alias, vc, x, bias]);
  });

  it('the fused kernels replace the composite ops on webgpu (no Softmax, Rsqrt or Mean kernels) and only there; under tf.profile each dispatch is timed in a pass of its own, with the same results', async () => {
    const names = async (backend: string) => {
      await initBackend(backend);
      const q = tf.tensor(normal(1, 2 * 2 * 3 * 4), [2, 2, 3, 4]) as tf.Tensor4D;
      const bias = tf.zeros([1, 1, 3, 3]);
      const w = tf.ones([4]) as tf.Tensor1D;
      const f = () => tf.grads((x: tf.Tensor) => tf.sum(rmsNorm(layerNorm(attention(x as tf.Tensor4D, q, q, bias), w, w), w, 1e-6)))([q])[0];
      const plain = f();
      let profiled: tf.Tensor | undefined;
      const p = await tf.profile(() => {
        profiled = f();
      });
      const same = relDiff(await profiled!.data(), await plain.data());
      const extra = new Map(await Promise.all(p.kernels.map(async (k) => [k.name, String(await k.extraInfo)] as const)));
      tf.dispose([q, bias, w, plain, profiled!]);
      return { names: new Set(p.kernels.map((k) => k.name)), extra, same };
    };
    const gpu = await names('webgpu');
    for (const k of ['WebGPUAttention', 'WebGPUAttentionGrad', 'WebGPUNorm', 'WebGPUNormGrad']) expect(gpu.names.has(k), k).toBe(true);
    for (const k of ['Softmax', 'Rsqrt', 'Mean']) expect(gpu.names.has(k), k).toBe(false);
    expect(gpu.same).toBe(0);
    expect(gpu.extra.get('WebGPUAttentionGrad')).toMatch(/AttentionDelta: .*AttentionDq: .*AttentionDkDv: /);
    expect(gpu.extra.get('WebGPUNormGrad')).toMatch(/NormDx: .*NormDw(Db)?: /);
    const cpu = await names('cpu');
    expect(cpu.names.has('Softmax') && cpu.names.has('Rsqrt')).toBe(true);
  });
});
