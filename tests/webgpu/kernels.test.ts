// The WGSL kernels of runtime/webgpu/ against the cpu backend: the in-place AdamW update (one
// dispatch per weight) — weights and both moments after several steps, with and without weight
// decay, odd sizes, and its refusal (the composite update instead) when a buffer is shared.
// Tolerance: 1e-6 of each tensor's scale (the same float32 expressions in the same order).
// log-softmax at the targets (two kernels, forward and backward) against the cpu backend's composite
// pick(logSoftmax(x)) — values within 2e-6, gradients within 1e-6 — and against central finite
// differences of its own forward kernel (float32, step 1e-2: within 2e-3), out-of-range targets included.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { AdamW } from '../../runtime/optim.ts';
import { adamWStats } from '../../runtime/webgpu/adamw.ts';
import { logProbOf, logSoftmax, pick } from '../../runtime/model/ops.ts';
import { Rng } from '../../runtime/rng.ts';
import { relDiff, runWebGPU, skipLine } from './available.ts';

skipLine('webgpu kernels');

const SHAPES: Record<string, number[]> = { 'h.0.mlp.c_fc.weight': [24, 37], 'h.0.ln_1.bias': [5], 'wte.weight': [3, 256], one: [1] };

function values(seed: number, n: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

describe.skipIf(!runWebGPU)('webgpu kernels', () => {
  it('AdamW in place: weights and moments follow the cpu backend over 5 steps (decay on and off), one dispatch per weight', async () => {
    const run = async (backend: string) => {
      await initBackend(backend);
      const params = new Map(Object.entries(SHAPES).map(([n, s], i) => [n, tf.tidy(() => tf.variable(tf.tensor(values(i + 1, s.reduce((a, b) => a * b, 1)), s)))]));
      const opt = new AdamW(params, { lr: 0.03, weightDecay: 0.1, decay: (n) => n.endsWith('.weight') });
      const before = adamWStats.dispatches;
      for (let step = 1; step <= 5; step++) {
        const grads = new Map([...params].map(([n, p], i) => [n, tf.tensor(values(100 * step + i, p.size), p.shape)]));
        opt.apply(grads, 0.03 / step);
        tf.dispose([...grads.values()]);
      }
      const dispatches = adamWStats.dispatches - before;
      const state = await opt.exportStateBinary();
      const w = Object.fromEntries(await Promise.all([...params].map(async ([n, p]) => [n, await p.data()] as const)));
      opt.dispose();
      tf.dispose([...params.values()]);
      return { w, state, dispatches };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(cpu.dispatches).toBe(0);
    expect(gpu.dispatches).toBe(5 * Object.keys(SHAPES).length);
    for (const n of Object.keys(SHAPES)) {
      expect(relDiff(gpu.w[n], cpu.w[n]), n).toBeLessThan(1e-6);
      expect(relDiff(gpu.state.m[n].data, cpu.state.m[n].data), `m ${n}`).toBeLessThan(1e-6);
      expect(relDiff(gpu.state.v[n].data, cpu.state.v[n].data), `v ${n}`).toBeLessThan(1e-6);
    }
  });

  it('AdamW refuses a weight whose buffer another tensor shares (the composite update leaves that tensor alone)', async () => {
    await initBackend('webgpu');
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]))); // sole owner of its buffer
    const opt = new AdamW(new Map([['w', p]]), { lr: 0.1 });
    const g = () => new Map([['w', tf.tensor1d([0.5, -0.5, 1])]]);
    const g1 = g();
    opt.apply(g1); // creates the moments; the first update runs in place
    tf.dispose([...g1.values()]);
    const alias = tf.reshape(p, [3]); // shares p's buffer
    const kept = Array.from(await alias.data());
    const refused = adamWStats.refused;
    const g2 = g();
    opt.apply(g2);
    tf.dispose([...g2.values()]);
    expect(adamWStats.refused).toBe(refused + 1);
    expect(Array.from(await alias.data())).toEqual(kept);
    expect(Array.from(await p.data())).not.toEqual(kept);
    tf.dispose([alias, p]);
    opt.dispose();
  });

  it('log-softmax at the targets: values and gradients equal the cpu composite and finite differences; flat tensor count', async () => {
    const [R, V] = [9, 300];
    const r = new Rng(3);
    const x = Float32Array.from({ length: R * V }, () => 3 * r.normal());
    const t = Int32Array.from({ length: R }, (_, i) => (i === 2 ? -1 : i === 4 ? V + 3 : r.int(V)));
    const dyv = Float32Array.from({ length: R }, () => r.normal());
    const run = async (backend: string) => {
      await initBackend(backend);
      const before = tf.memory().numTensors;
      const xt = tf.tensor2d(x, [R, V]);
      const tt = tf.tensor1d(t, 'int32');
      const dy = tf.tensor1d(dyv);
      const f = (a: tf.Tensor) => (backend === 'cpu' ? pick(logSoftmax(a), tt) : logProbOf(a, tt));
      const y = tf.tidy(() => f(xt));
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), dy)))(xt);
      const out = { y: await y.data(), g: await g.data(), fd: [] as [number, number][] };
      if (backend === 'webgpu') {
        // central differences of sum(dy · logp) at a few entries: the target's and others, each row
        const h = 1e-2;
        for (const [row, col] of [[0, t[0]], [1, 5], [3, t[3]], [4, 7], [8, 299]]) {
          const at = (d: number) => {
            const xs = x.slice();
            xs[row * V + col] += d;
            return tf.tidy(() => tf.sum(tf.mul(logProbOf(tf.tensor2d(xs, [R, V]), tt), dy)));
          };
          const [p, m] = [at(h), at(-h)];
          out.fd.push([((await p.data())[0] - (await m.data())[0]) / (2 * h), out.g[row * V + col]]);
          tf.dispose([p, m]);
        }
      }
      tf.dispose([xt, tt, dy, y, g]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(relDiff(gpu.y, cpu.y)).toBeLessThan(2e-6);
    expect(relDiff(gpu.g, cpu.g)).toBeLessThan(1e-6);
    expect(gpu.y[2]).toBe(0);
    expect(gpu.y[4]).toBe(0);
    expect(Array.from(gpu.g.slice(2 * V, 3 * V)).every((v) => v === 0)).toBe(true);
    for (const [fd, an] of gpu.fd) expect(Math.abs(fd - an)).toBeLessThan(2e-3 * Math.max(1, Math.abs(an)));
  });
});
