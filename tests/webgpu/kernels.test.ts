// The WGSL kernels of runtime/webgpu/ against the cpu backend: the in-place AdamW update (one
// dispatch per weight) — weights and both moments after several steps, with and without weight
// decay, odd sizes, and its refusal (the composite update instead) when a buffer is shared.
// Tolerance: 1e-6 of each tensor's scale (the same float32 expressions in the same order).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { AdamW } from '../../runtime/optim.ts';
import { adamWStats } from '../../runtime/webgpu/adamw.ts';
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
});
