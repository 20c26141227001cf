// The native backend (runtime/native): kernel-by-kernel agreement with the cpu backend, gradients,
// a 20-step training trajectory, flat memory, buffer-recycling safety, the MathBackendCPU internals
// it relies on, and the fallback when the addon is missing. Skipped when the addon is not built,
// unless RLHFC_REQUIRE_NATIVE=1 (CI), where a missing addon fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU, version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { loadAddon } from '../../runtime/native/addon.ts';
import { NativeBackend, registerNative } from '../../runtime/native/backend.ts';
import { fusedOps } from '../../runtime/native/fused.ts';
import { gelu, layerNorm, logSoftmax, pick } from '../../runtime/model/ops.ts';
import { generate } from '../../runtime/model/decode.ts';
import { GPT } from '../../runtime/model/gpt.ts';
import { AdamW, clipByGlobalNorm } from '../../runtime/optim.ts';
import { Rng } from '../../runtime/rng.ts';
import { lmBatch, tinyModel, tok } from './helpers.ts';

const available = loadAddon().addon !== undefined;
const required = process.env.RLHFC_REQUIRE_NATIVE === '1';

describe('native backend prerequisites', () => {
  it('is built when RLHFC_REQUIRE_NATIVE=1', () => {
    if (required) expect(loadAddon().reason ?? 'loaded').toBe('loaded');
  });

  it('finds the MathBackendCPU internals it relies on (tfjs-backend-cpu pinned to 4.22.0)', () => {
    expect(version_cpu).toBe('4.22.0');
    for (const m of ['write', 'move', 'readSync', 'disposeData', 'makeTensorInfo', 'incRef', 'decRef', 'refCount', 'numDataIds']) {
      expect(typeof (MathBackendCPU.prototype as unknown as Record<string, unknown>)[m]).toBe('function');
    }
    const b = new MathBackendCPU() as unknown as { data: Record<string, unknown>; firstUse: unknown };
    for (const m of ['has', 'get', 'set', 'delete', 'numDataIds']) expect(typeof b.data[m]).toBe('function');
    expect(b.firstUse).toBe(true);
    const id = (b as unknown as MathBackendCPU).write(new Float32Array([1, 2]), [2], 'float32');
    const d = (b as unknown as MathBackendCPU).data.get(id);
    expect(d.values).toBeInstanceOf(Float32Array);
    expect(d.refCount).toBe(1);
    expect((b as unknown as MathBackendCPU).disposeData(id)).toBe(true);
    expect((b as unknown as MathBackendCPU).data.has(id)).toBe(false);
    // every cpu kernel is re-registered under `native`
    expect(tf.getKernelsForBackend('cpu').length).toBeGreaterThan(100);
  });

  it('falls back to wasm with one warning naming the build command when the addon is missing', () => {
    const script = [
      "import { initBackend } from './runtime/tensor-backend.ts';",
      "const a = await initBackend('auto');",
      "const b = await initBackend('auto');",
      'console.log(JSON.stringify([a.name, b.name]));',
      "try { await initBackend('native'); } catch (e) { console.log('ERR ' + e.message); }",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      encoding: 'utf8',
      env: { ...process.env, RLHFC_NATIVE_ADDON: '/nonexistent/rlhfc_native.node' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('["wasm","wasm"]');
    expect(r.stdout).toMatch(/ERR backend 'native' is not available: the native addon is not built/);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('native backend unavailable'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('npm run build:native');
  });

  it('refuses an addon built from older sources (without the newest kernels), asking for a rebuild', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-stale-'));
    const stale = join(dir, 'stale.cjs');
    writeFileSync(stale, 'module.exports = { setThreads() {}, info() { return {}; }, attention() {} };');
    const script = ["import { loadAddon } from './runtime/native/addon.ts';", 'console.log(JSON.stringify(loadAddon()));'].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      encoding: 'utf8',
      env: { ...process.env, RLHFC_NATIVE_ADDON: stale },
    });
    rmSync(dir, { recursive: true });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ reason: 'the native addon is out of date (built before rmsNorm, rmsNormGrad, rope, swiglu, swigluGrad): rebuild it' });
  });
});

const rnd = (shape: number[], seed: number, lo = -2, hi = 2) => {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next()) };
};
type Spec = { shape: number[]; data: Float32Array | Int32Array; dtype?: 'float32' | 'int32' };

/** Run `f` on both backends with the same inputs; returns [cpu, native] outputs as plain arrays. */
async function both(inputs: Spec[], f: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  const res: { shape: number[]; dtype: string; data: number[] }[][] = [];
  for (const name of ['cpu', 'native']) {
    await tf.setBackend(name);
    const outs = tf.tidy(() => {
      const ts = inputs.map((s) => tf.tensor(s.data, s.shape, s.dtype ?? (s.data instanceof Int32Array ? 'int32' : 'float32')));
      const o = f(...ts);
      return Array.isArray(o) ? o : [o];
    });
    res.push(outs.map((o) => ({ shape: o.shape, dtype: o.dtype, data: Array.from(o.dataSync()) })));
    tf.dispose(outs);
  }
  return res as [(typeof res)[0], (typeof res)[0]];
}

async function agree(inputs: Spec[], f: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 1e-5) {
  const [c, n] = await both(inputs, f);
  expect(n.length).toBe(c.length);
  c.forEach((co, i) => {
    expect(n[i].shape).toEqual(co.shape);
    expect(n[i].dtype).toBe(co.dtype);
    co.data.forEach((x, j) => {
      const y = n[i].data[j];
      if (Number.isNaN(x)) expect(y).toBeNaN();
      else if (!Number.isFinite(x)) expect(y).toBe(x);
      else expect(Math.abs(x - y), `output ${i} element ${j}: cpu ${x} native ${y}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(x)));
    });
  });
}

describe.skipIf(!available && !required)('native backend', () => {
  it('registers, initialises and names itself in the banner', async () => {
    expect(registerNative().ok).toBe(true);
    const info = await initBackend('native');
    expect(info.name).toBe('native');
    expect(info.banner).toMatch(/^backend: native \((avx512|avx2|base) kernels, (own GEMM|OpenBLAS \w+), (1 thread|1–\d+ threads)\)$/);
    expect((await initBackend('auto')).name).toBe('native');
    expect(tf.getKernelsForBackend('native').length).toBeGreaterThanOrEqual(tf.getKernelsForBackend('cpu').length);
  });

  it('unary kernels agree with cpu', async () => {
    const x = rnd([3, 5, 7], 1, -4, 4);
    const pos = rnd([3, 5, 7], 2, 0.05, 5);
    const wide = rnd([4, 300], 3, -60, 60);
    for (const f of [tf.neg, tf.exp, tf.sigmoid, tf.tanh, tf.relu, tf.abs, tf.square, tf.elu, tf.relu6]) await agree([x], f as never, 2e-6);
    for (const f of [tf.exp, tf.sigmoid, tf.tanh, tf.softplus]) await agree([wide], f as never, 2e-6);
    for (const f of [tf.log, tf.sqrt, tf.rsqrt, tf.reciprocal, tf.log1p]) await agree([pos], f as never, 2e-6);
    await agree([{ shape: [4], data: Float32Array.of(NaN, Infinity, -Infinity, 0) }], (t) => [tf.relu(t), tf.exp(t), tf.neg(t)]);
    await agree([{ shape: [5], data: Float32Array.of(1e-7, -3e-5, 1e-3, 0.06, 0.07) }], tf.tanh as never, 1e-6);
  });

  it('binary kernels with broadcasting agree with cpu', async () => {
    const shapes: [number[], number[]][] = [
      [[2, 3, 4], [2, 3, 4]],
      [[2, 3, 4], [4]],
      [[4], [2, 3, 4]],
      [[2, 1, 4], [1, 3, 1]],
      [[3, 1], [1, 4]],
      [[2, 3, 4], []],
      [[], [5]],
      [[8, 1, 6, 6], [8, 4, 6, 6]],
      [[2, 3, 1, 5], [3, 4, 1]],
    ];
    for (const [i, [sa, sb]] of shapes.entries()) {
      const a = rnd(sa, 10 + i);
      const b = rnd(sb, 20 + i, 0.5, 3);
      for (const f of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference, tf.pow]) await agree([a, b], f as never, 5e-6);
    }
    await agree([{ shape: [3], data: Float32Array.of(NaN, 1, 2) }, { shape: [3], data: Float32Array.of(1, NaN, 1) }], (a, b) => [tf.maximum(a, b), tf.minimum(a, b)]);
    // int32 goes to the cpu kernels
    await agree([{ shape: [3], data: Int32Array.of(1, 2, 3) }, { shape: [3], data: Int32Array.of(4, 5, -6) }], (a, b) => [tf.add(a, b), tf.mul(a, b), tf.sub(a, b)]);
  });

  it('reductions, softmax and addN agree with cpu', async () => {
    const x = rnd([3, 4, 5, 6], 30);
    for (const axis of [0, 1, 2, 3, -1, [1, 2], [0, 1], [2, 3], [0, 1, 2, 3], [0, 2]]) {
      for (const keepDims of [false, true]) {
        await agree([x], (t) => [tf.sum(t, axis, keepDims), tf.mean(t, axis, keepDims), tf.max(t, axis, keepDims), tf.min(t, axis, keepDims), tf.prod(tf.div(t, 2), axis, keepDims)], 1e-5);
      }
    }
    await agree([x], (t) => [tf.sum(t), tf.mean(t), tf.max(t)], 1e-5);
    await agree([rnd([7, 33], 31, -30, 30)], (t) => [tf.softmax(t), tf.logSoftmax(t)], 1e-5);
    await agree([rnd([2, 3, 512], 32, -30, 30)], (t) => tf.softmax(t), 1e-5);
    await agree([rnd([3, 4], 33), rnd([3, 4], 34), rnd([3, 4], 35)], (a, b, c) => tf.addN([a, b, c]));
  });

  it('matrix products (transposes, batches, broadcast batch, fused bias/relu) agree with cpu', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[4, 5, 7], [4, 7, 3], false, false],
      [[2, 4, 5, 7], [2, 4, 3, 7], false, true],
      [[4, 5, 7], [7, 3], false, false],
      [[4, 7, 5], [7, 3], true, false],
      [[5, 7], [4, 7, 3], false, false],
      [[1, 5, 7], [4, 3, 7], false, true],
      [[3, 0], [0, 4], false, false],
    ];
    for (const [i, [sa, sb, ta, tb]] of cases.entries()) {
      await agree([rnd(sa, 40 + i), rnd(sb, 60 + i)], (a, b) => tf.matMul(a, b, ta, tb), 1e-5);
    }
    const bias = rnd([3], 80);
    for (const activation of ['linear', 'relu', 'elu'] as const) {
      await agree([rnd([4, 5, 7], 81), rnd([7, 3], 82), bias], (a, b, c) => tf.fused.matMul({ a, b, bias: c, activation }), 1e-5);
    }
    await agree([rnd([5, 7], 83), rnd([3, 7], 84)], (a, b) => tf.fused.matMul({ a, b, transposeB: true, activation: 'relu' }), 1e-5);
  });

  it('layout kernels (transpose, gather, concat, split, slice, tile, oneHot, segment sum, cast) agree with cpu', async () => {
    const x = rnd([2, 3, 4, 5], 90);
    const xi: Spec = { shape: [2, 3, 4], data: Int32Array.from({ length: 24 }, (_, i) => i * 7 - 30) };
    for (const perm of [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 3, 2], [2, 3, 0, 1]]) await agree([x], (t) => tf.transpose(t, perm));
    await agree([rnd([37, 70], 91)], (t) => tf.transpose(t));
    await agree([xi], (t) => tf.transpose(t, [2, 0, 1]));
    const idx: Spec = { shape: [2, 3], data: Int32Array.of(0, 2, 1, 1, 0, 2) };
    for (const axis of [0, 1, 2]) await agree([rnd([3, 3, 3], 92), idx], (t, i) => tf.gather(t, i, axis));
    await agree([xi, { shape: [2], data: Int32Array.of(1, 0) }], (t, i) => tf.gather(t, i, 0));
    for (const axis of [0, 1, 2, -1]) {
      await agree([x, x], (a, b) => tf.concat([a, tf.mul(b, 2), a], axis));
      await agree([x], (t) => tf.split(t, [1, t.shape[axis < 0 ? 3 : axis]! - 1], axis));
    }
    await agree([xi, xi], (a, b) => tf.concat([a, b], 1));
    await agree([x], (t) => tf.split(t, 3, 1));
    await agree([x], (t) => [tf.slice(t, [1, 0, 1, 2], [1, 3, 2, 3]), tf.slice(t, [0, 1, 0, 0], [-1, 1, -1, -1]), tf.slice(t, [1], [1])]);
    await agree([xi], (t) => tf.slice(t, [0, 1, 1], [2, 2, 3]));
    await agree([rnd([2, 3], 93)], (t) => [tf.tile(t, [2, 3]), tf.tile(t, [1, 1]), tf.tile(tf.reshape(t, [6]), [3])]);
    await agree([idx], (i) => [tf.oneHot(i, 4), tf.oneHot(tf.reshape(i, [6]) as tf.Tensor1D, 3, 5, -1)]);
    await agree([rnd([6, 4], 94), { shape: [6], data: Int32Array.of(0, 2, 0, 4, 2, 2) }], (t, i) => tf.unsortedSegmentSum(t, i as tf.Tensor1D, 5));
    await agree([{ shape: [7], data: Float32Array.of(NaN, Infinity, -Infinity, 3e9, -3e9, -2.7, 2.7) }], (t) => tf.cast(t, 'int32'));
    await agree([rnd([6], 95, -5, 5)], (t) => [tf.cast(t, 'int32'), tf.cast(tf.cast(t, 'int32'), 'float32'), tf.cast(tf.greater(t, 0), 'float32'), tf.cast(tf.greater(t, 0), 'int32')]);
  });

  it('fused ops (LayerNorm, GELU, log-softmax at targets, AdamW) match the composite ops with their gradients', async () => {
    await tf.setBackend('cpu');
    expect(fusedOps()).toBeUndefined();
    const x = rnd([3, 5, 16], 100, -3, 3);
    const g = rnd([16], 101, 0.5, 1.5);
    const bt = rnd([16], 102);
    const w = rnd([3, 5, 16], 103); // dy weights, so gradients are not trivially uniform
    const logits = rnd([6, 40], 104, -8, 8);
    const tgt: Spec = { shape: [6], data: Int32Array.of(0, 39, 7, 7, 20, 3) };
    const lw = rnd([6], 105);
    const results: number[][][] = [];
    for (const name of ['cpu', 'native']) {
      await tf.setBackend(name);
      const f = fusedOps();
      expect(f === undefined).toBe(name === 'cpu');
      const mk = (s: Spec) => tf.tensor(s.data, s.shape, s.data instanceof Int32Array ? 'int32' : 'float32');
      const r = tf.tidy(() => {
        const [tx, tg, tb, tw, tl, tt, tlw] = [x, g, bt, w, logits, tgt, lw].map(mk);
        const ln = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => (f ? f.layerNorm(a, b as tf.Tensor1D, c as tf.Tensor1D, 1e-5) : layerNorm(a, b as tf.Tensor1D, c as tf.Tensor1D));
        const ge = (a: tf.Tensor) => (f ? f.gelu(a) : gelu(a));
        const lp = (a: tf.Tensor) => (f ? f.logProbOf(a, tt) : pick(logSoftmax(a), tt));
        const outs = [ln(tx, tg, tb), ge(tx), lp(tl)];
        const gl = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(ln(a, b, c), tw)))([tx, tg, tb]);
        const gg = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(ge(a), tw)))(tx);
        const gp = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(lp(a), tlw)))(tl);
        return [...outs, ...gl, gg, gp];
      });
      results.push(r.map((t) => Array.from(t.dataSync())));
      tf.dispose(r);
    }
    const [c, n] = results;
    c.forEach((arr, i) => arr.forEach((v, j) => expect(Math.abs(v - n[i][j]), `output ${i}[${j}]`).toBeLessThan(2e-5 * Math.max(1, Math.abs(v)))));
    // AdamW: the fused update against runtime/optim.ts's composite one
    const adam = async (name: string) => {
      await tf.setBackend(name);
      const p = tf.variable(tf.tensor(x.data, x.shape));
      const params = new Map([['transformer.h.0.mlp.c_fc.weight', p]]);
      const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.1 });
      const gr = tf.tensor(w.data, w.shape);
      const f = fusedOps();
      let m: tf.Variable | undefined;
      let v: tf.Variable | undefined;
      for (let s = 1; s <= 3; s++) {
        if (!f) opt.apply(new Map([['transformer.h.0.mlp.c_fc.weight', gr]]));
        else {
          m ??= tf.variable(tf.zerosLike(p), false);
          v ??= tf.variable(tf.zerosLike(p), false);
          f.adamW(p, m, v, gr, { beta1: 0.9, beta2: 0.999, stepSize: 1e-2 / (1 - 0.9 ** s), bc2sqrt: Math.sqrt(1 - 0.999 ** s), eps: 1e-8, decay: 1 - 1e-2 * 0.1 });
        }
      }
      const r = Array.from(p.dataSync());
      tf.dispose([p, gr, ...(m ? [m] : []), ...(v ? [v] : [])]);
      opt.dispose();
      return r;
    };
    const ca = await adam('cpu');
    const na = await adam('native');
    ca.forEach((v, j) => expect(Math.abs(v - na[j])).toBeLessThan(1e-6));
  });

  it('fused linear+GELU (one kernel) matches gelu(x·w + b) with its gradients: both weight layouts, odd sizes, no bias, frozen', async () => {
    // [M, K, N]: one row, odd sizes, and one large enough for the thread pool and several row blocks
    for (const [M, K, N] of [[1, 5, 3], [7, 13, 37], [70, 300, 129]]) {
      const x = rnd([M, K], 200 + M, -1.5, 1.5);
      const w = rnd([K, N], 300 + K, -0.5, 0.5);
      const wt: Spec = { shape: [N, K], data: Float32Array.from({ length: N * K }, (_, i) => w.data[(i % K) * N + Math.floor(i / K)]) };
      const b = rnd([N], 400 + N);
      const r = rnd([M, N], 500 + M);
      for (const transposeW of [false, true]) {
        for (const withBias of M > 10 ? [true] : [true, false]) {
          for (const frozen of M > 10 ? [false] : [false, true]) {
            await agree([x, transposeW ? wt : w, b, r], (tx, tw, tb, tr) => {
              const bias = withBias ? (tb as tf.Tensor1D) : undefined;
              const f = fusedOps();
              const fwd = (a: tf.Tensor, ww: tf.Tensor, bb?: tf.Tensor) =>
                f ? f.linearGelu(a as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D | undefined, { transposeW, frozen }) : gelu(tf.add(tf.matMul(a, ww, false, transposeW), bb ?? 0));
              const loss = (a: tf.Tensor, ww: tf.Tensor, bb?: tf.Tensor) => tf.sum(tf.mul(fwd(a, ww, bb), tr));
              if (frozen) return [fwd(tx, tw, bias), tf.grad((a: tf.Tensor) => loss(a, tw, bias))(tx)];
              const g = withBias ? tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => loss(a, ww, bb))([tx, tw, tb]) : tf.grads((a: tf.Tensor, ww: tf.Tensor) => loss(a, ww))([tx, tw]);
              return [fwd(tx, tw, bias), ...g];
            }, 2e-5);
          }
        }
      }
    }
  });

  it('packed attention (q, k, v read in place from c_attn\'s output, heads merged in place) matches split → heads → attention → merge, with gradients', async () => {
    for (const [B, T, H, D, perBatchBias] of [[1, 1, 1, 3, false], [2, 7, 3, 5, true], [3, 33, 4, 8, false]] as [number, number, number, number, boolean][]) {
      const C = H * D;
      const qkv = rnd([B, T, 3 * C], 700 + T, -1, 1);
      // causal mask, plus (per batch) a padded first position, as attentionLayout builds it
      const Bb = perBatchBias ? B : 1;
      const bias: Spec = { shape: [Bb, 1, T, T], data: Float32Array.from({ length: Bb * T * T }, (_, i) => { const [b, r, c] = [Math.floor(i / (T * T)), Math.floor(i / T) % T, i % T]; return c > r || (b === 1 && c === 0 && r > 0) ? -1e9 : 0; }) };
      const dyw = rnd([B, T, C], 800 + T);
      await agree([qkv, bias, dyw], (tq, tb, tw) => {
        const f = fusedOps();
        const att = (x: tf.Tensor): tf.Tensor => {
          if (f) return f.attentionPacked(x as tf.Tensor3D, tb, H, 1 / Math.sqrt(D));
          const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]);
          const [q, k, v] = tf.split(x, 3, 2).map(heads);
          const p = tf.softmax(tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(D)), k, false, true), tb), -1);
          return tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [B, T, C]);
        };
        return [att(tq), tf.grad((x: tf.Tensor) => tf.sum(tf.mul(att(x), tw)))(tq)];
      }, 2e-5);
    }
  });

  it('packed attention gradients match finite differences, and leave no tensor behind', async () => {
    await tf.setBackend('native');
    const f = fusedOps()!;
    const [B, T, H, D] = [2, 4, 2, 3];
    const C = H * D;
    const qkv = tf.tensor(rnd([B, T, 3 * C], 900).data, [B, T, 3 * C]);
    const bias = tf.tensor(Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0)), [1, 1, T, T]);
    const w = tf.tensor(rnd([B, T, C], 901).data, [B, T, C]);
    const loss = (x: tf.Tensor) => tf.sum(tf.mul(f.attentionPacked(x as tf.Tensor3D, bias, H, 1 / Math.sqrt(D)), w));
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => Array.from(tf.grad(loss)(qkv).dataSync()));
    expect(tf.memory().numTensors).toBe(before);
    const base = Float32Array.from(qkv.dataSync());
    const at = (v: Float32Array) => tf.tidy(() => loss(tf.tensor(v, qkv.shape)).dataSync()[0]);
    for (let j = 0; j < base.length; j++) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[j] += 1e-2;
      minus[j] -= 1e-2;
      const fd = (at(plus) - at(minus)) / 2e-2;
      expect(Math.abs(fd - g[j]), `qkv[${j}]: finite difference ${fd}, gradient ${g[j]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
    }
    tf.dispose([qkv, bias, w]);
  });

  it('fused linear+GELU gradients match finite differences, and leave no tensor behind', async () => {
    await tf.setBackend('native');
    const f = fusedOps()!;
    const [M, K, N] = [3, 6, 5];
    const x = tf.tensor(rnd([M, K], 600).data, [M, K]) as tf.Tensor2D;
    const w = tf.tensor(rnd([K, N], 601, -0.7, 0.7).data, [K, N]) as tf.Tensor2D;
    const b = tf.tensor(rnd([N], 602).data, [N]) as tf.Tensor1D;
    const r = tf.tensor(rnd([M, N], 603).data, [M, N]);
    const loss = (a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f.linearGelu(a as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, { transposeW: false, frozen: false }), r));
    const before = tf.memory().numTensors;
    const grads = tf.tidy(() => tf.grads(loss)([x, w, b]).map((g) => Array.from(g.dataSync())));
    expect(tf.memory().numTensors).toBe(before);
    const h = 1e-2;
    const base = [x, w, b].map((t) => Float32Array.from(t.dataSync()));
    const shapes = [x.shape, w.shape, b.shape];
    const at = (vals: Float32Array[]) => tf.tidy(() => loss(tf.tensor(vals[0], shapes[0]), tf.tensor(vals[1], shapes[1]), tf.tensor(vals[2], shapes[2])).dataSync()[0]);
    for (let which = 0; which < 3; which++) {
      for (let j = 0; j < base[which].length; j++) {
        const plus = base.map((a) => Float32Array.from(a));
        const minus = base.map((a) => Float32Array.from(a));
        plus[which][j] += h;
        minus[which][j] -= h;
        const fd = (at(plus) - at(minus)) / (2 * h);
        expect(Math.abs(fd - grads[which][j]), `input ${which}[${j}]: finite difference ${fd}, gradient ${grads[which][j]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
      }
    }
    tf.dispose([x, w, b, r]);
    expect(tf.memory().numTensors).toBe(before - 4);
  });

  it('sampling with the in-place KV cache gives bit-identical logits and tokens to the concatenated cache (also LoRA), with no tensor left behind', async () => {
    await tf.setBackend('native');
    const m = tinyModel({}, 4);
    m.addLora({ r: 2, alpha: 4, targets: ['c_attn', 'c_fc'] } as never);
    for (const v of m.trainable().values()) if (v.name.includes('lora')) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 3));
    const before = tf.memory().numTensors;
    // logits step by step: the preallocated cache written in place against past/returnCache (concat)
    const rng = new Rng(8);
    const B = 3;
    const steps = [5, 1, 1, 2, 1].map((T) => tf.tensor2d(Array.from({ length: B * T }, () => rng.int(m.config.vocabSize)), [B, T], 'int32'));
    const slots = m.kvSlots(B, 12)!;
    let cache: { k: tf.Tensor4D[]; v: tf.Tensor4D[] } | undefined;
    let len = 0;
    for (const ids of steps) {
      len += ids.shape[1];
      const mask = tf.tensor2d(Array.from({ length: B * len }, (_, i) => (i % len === 0 && i / len === 1 ? 0 : 1)), [B, len]); // row 1 left-padded
      const a = tf.tidy(() => Array.from(m.head(m.forward(ids, mask, { kv: slots }).hidden).dataSync()));
      const [logits, ...kv] = tf.tidy(() => {
        const r = m.forward(ids, mask, { past: cache, returnCache: true });
        return [m.head(r.hidden), ...r.cache!.k, ...r.cache!.v];
      });
      const b = Array.from(logits.dataSync());
      if (cache) tf.dispose([...cache.k, ...cache.v]);
      cache = { k: kv.slice(0, kv.length / 2) as tf.Tensor4D[], v: kv.slice(kv.length / 2) as tf.Tensor4D[] };
      tf.dispose([logits, mask]);
      expect(a).toEqual(b);
    }
    expect(slots.length).toBe(10);
    expect(() => m.forward(steps[0], undefined, { kv: slots })).toThrow(/15 positions exceed the KV cache's 12/);
    tf.dispose([...slots.k, ...slots.v, ...cache!.k, ...cache!.v, ...steps]);
    expect(tf.memory().numTensors).toBe(before);
    // a cache another tensor shares (a reshape) is never written in place
    const kc = fusedOps()!.kvCache([1, 1, 4, 2]);
    const alias = tf.reshape(kc, [8]);
    const q = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
    expect(() => fusedOps()!.attentionCached(q, q, q, kc, kc, 0, tf.zeros([1, 1, 1, 1]), 1)).toThrow(/held by one tensor only/);
    tf.dispose([kc, alias, q]);
    m.dispose();
  });

  it('AdamW updates the variables in place between steps, never an array a caller has read or a buffer another tensor shares', async () => {
    await tf.setBackend('native');
    const f = fusedOps()!;
    const b = tf.backend() as unknown as { stats: { allocated: number; reused: number } };
    const o = { beta1: 0.9, beta2: 0.999, stepSize: 1e-2, bc2sqrt: 0.5, eps: 1e-8, decay: 1 };
    const p = tf.variable(tf.tensor(rnd([64, 32], 950).data, [64, 32]));
    const m = tf.variable(tf.zerosLike(p), false);
    const v = tf.variable(tf.zerosLike(p), false);
    const g = tf.tensor(rnd([64, 32], 951).data, [64, 32]);
    f.adamW(p, m, v, g, o); // first step: the initial buffers are not the backend's own, so new ones
    const expected = tf.tidy(() => {
      // the same update, composed on the fused kernel's copying path, from the same state
      const [p2] = tf.engine().runKernel('NativeAdam', { p: tf.clone(p), m: tf.clone(m), v: tf.clone(v), g }, o) as tf.Tensor[];
      return Array.from(p2.dataSync());
    });
    const allocated = b.stats.allocated + b.stats.reused;
    f.adamW(p, m, v, g, o);
    expect(b.stats.allocated + b.stats.reused, 'no output buffers: the update was written in place').toBe(allocated);
    Array.from(p.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(expected[i], 6));
    // p's array was read (dataSync above): the next update must not write into what the caller holds
    const seen = p.dataSync();
    const copy = Float32Array.from(seen);
    f.adamW(p, m, v, g, o);
    expect(Array.from(seen)).toEqual(Array.from(copy));
    // a reshape shares m's buffer: updating m in place would change it too
    const mOld = tf.add(m, 0); // a copy, in a buffer of its own
    const alias = tf.reshape(m, [32, 64]); // nothing read: only the shared data id protects it
    f.adamW(p, m, v, g, o);
    expect(Array.from(alias.dataSync())).toEqual(Array.from(mOld.dataSync()));
    expect(Array.from(m.dataSync())).not.toEqual(Array.from(mOld.dataSync()));
    tf.dispose([p, m, v, g, alias, mOld]);
  });

  it('gradients replaced on this backend (Sum, Mean, Softmax, Sigmoid) agree with the cpu backend', async () => {
    const x = rnd([2, 3, 6], 110, -3, 3);
    const w = rnd([2, 3, 6], 111);
    await agree([x, w], (a, b) => {
      const f = (t: tf.Tensor) =>
        tf.addN([
          tf.sum(tf.mul(tf.softmax(t), b)),
          tf.sum(tf.mul(tf.sigmoid(t), b)),
          tf.sum(tf.mul(tf.mean(t, 1, true), tf.sum(b, [0, 2], true))),
          tf.sum(tf.mul(tf.sum(tf.mul(t, b), -1), 0.5)),
          tf.mean(tf.mul(t, t)),
        ]) as tf.Scalar;
      return [f(a), tf.grad(f)(a)];
    }, 2e-5);
  });

  it('raises the cpu backend errors for bad indices', async () => {
    await tf.setBackend('native');
    expect(() => tf.tidy(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 5], 'int32')))).toThrow(/index value 5/);
  });

  it('gives the same loss and gradients as the cpu backend on a GPT', async () => {
    const run = async (name: string) => {
      await tf.setBackend(name);
      const m = tinyModel({}, 2, ['reward']);
      const b = lmBatch(2, 12);
      const vars = [...m.weights.values()];
      const { value, grads } = tf.variableGrads(() => m.lmLoss(b, { training: true }), vars);
      const r = { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name]?.dataSync() ?? [])) };
      value.dispose();
      tf.dispose(grads);
      m.dispose();
      return r;
    };
    const cpu = await run('cpu');
    const nat = await run('native');
    expect(nat.loss).toBeCloseTo(cpu.loss, 5);
    cpu.grads.forEach((g, i) => {
      const scale = Math.max(1e-6, ...g.map(Math.abs));
      const diff = Math.max(0, ...g.map((x, j) => Math.abs(x - nat.grads[i][j])));
      expect(diff / scale).toBeLessThan(1e-4);
    });
  });

  it('with LoRA adapters on c_attn and c_fc (the packed attention and unfused MLP paths), the same loss and adapter gradients as the cpu backend', async () => {
    const run = async (name: string) => {
      await tf.setBackend(name);
      const m = tinyModel({}, 2);
      m.addLora({ r: 4, alpha: 8, targets: ['c_attn', 'c_fc'] });
      // adapters start at B = 0 (no effect): give B values so the delta paths count
      for (const [n, v] of m.trainable()) if (n.includes('lora_B')) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', 7));
      const vars = [...m.trainable().values()];
      const { value, grads } = tf.variableGrads(() => m.lmLoss(lmBatch(2, 12), { training: true }), vars);
      const r = { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name]?.dataSync() ?? [])) };
      value.dispose();
      tf.dispose(grads);
      m.dispose();
      return r;
    };
    const cpu = await run('cpu');
    const nat = await run('native');
    expect(nat.loss).toBeCloseTo(cpu.loss, 5);
    cpu.grads.forEach((g, i) => {
      const scale = Math.max(1e-6, ...g.map(Math.abs));
      expect(Math.max(0, ...g.map((x, j) => Math.abs(x - nat.grads[i][j]))) / scale).toBeLessThan(1e-4);
    });
  });

  it('follows the cpu backend over a 20-step training run, with flat memory', async () => {
    const cfg = { vocabSize: 96, context: 24, width: 32, layers: 2, heads: 4, dropout: 0 };
    const traj = async (name: string) => {
      await tf.setBackend(name);
      const m = new GPT(cfg, { seed: 5 });
      const params = m.trainable();
      const names = [...params.keys()];
      const vars = names.map((n) => params.get(n)!);
      const opt = new AdamW(params, { lr: 3e-3, weightDecay: 0.1 });
      const r = new Rng(6);
      const batch = lmBatchFrom(r, 4, cfg.context, cfg.vocabSize);
      const losses: number[] = [];
      const counts: number[] = [];
      for (let s = 0; s < 20; s++) {
        const { value, grads } = tf.variableGrads(() => m.lmLoss(batch, { training: true }), vars);
        const named = new Map(names.map((n, i) => [n, grads[vars[i].name]]));
        const norm = clipByGlobalNorm(named, 1);
        opt.apply(named);
        await norm;
        losses.push(value.dataSync()[0]);
        value.dispose();
        for (const g of named.values()) g.dispose();
        counts.push(tf.memory().numTensors);
      }
      opt.dispose();
      m.dispose();
      tf.dispose(Object.values(batch));
      return { losses, counts };
    };
    const cpu = await traj('cpu');
    const nat = await traj('native');
    expect(nat.losses[19]).toBeLessThan(nat.losses[0] - 0.5);
    nat.losses.forEach((l, i) => expect(Math.abs(l - cpu.losses[i]), `step ${i}: cpu ${cpu.losses[i]} native ${l}`).toBeLessThan(2e-3));
    // flat: the same live tensors after every step (weights + AdamW moments), and the backend's data ids too
    expect(new Set(nat.counts.slice(1)).size).toBe(1);
    const backend = tf.backend() as NativeBackend;
    expect(backend).toBeInstanceOf(NativeBackend);
    expect(backend.stats.reused).toBeGreaterThan(backend.stats.allocated);
  });

  it('keeps memory flat over a long run and recycles buffers', async () => {
    await tf.setBackend('native');
    const backend = tf.backend() as NativeBackend;
    const m = tinyModel({}, 3);
    const params = m.trainable();
    const vars = [...params.values()];
    const opt = new AdamW(params, { lr: 1e-3 });
    const b = lmBatch(2, 16);
    const counts: number[] = [];
    const ids: number[] = [];
    const pool: number[] = [];
    for (let s = 0; s < 60; s++) {
      const { value, grads } = tf.variableGrads(() => m.lmLoss(b, { training: true }), vars);
      opt.apply(new Map([...params].map(([n, v]) => [n, grads[v.name]])));
      value.dispose();
      tf.dispose(grads);
      counts.push(tf.memory().numTensors);
      ids.push(backend.numDataIds());
      pool.push(backend.poolBytes);
    }
    expect(counts[59]).toBe(counts[4]);
    expect(ids[59]).toBe(ids[4]);
    expect(pool[59]).toBe(pool[9]);
    const before = tf.memory().numTensors;
    const g = await generate(m, [tok.encode('Four score'), tok.encode('a new')], { maxNewTokens: 6, eosId: tok.eosId, padId: tok.padId, temperature: 0 });
    const h = await generate(m, [tok.encode('Four score'), tok.encode('a new')], { maxNewTokens: 6, eosId: tok.eosId, padId: tok.padId, temperature: 0, useCache: false });
    expect(g.tokens).toEqual(h.tokens);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    m.dispose();
  });

  it('keeps a large buffer pooled across steps when a step needs more distinct buffers than its peak', () => {
    // The pattern of a LoRA step on a large vocabulary: a 48 MB logits gradient is freed early, then
    // smaller buffers of size classes not in the pool are made and freed. Distinct buffers exceed the
    // peak in use at once; the pool must keep them all (no fresh allocation once warm), or each step
    // evicts the big one and pays its first touch again.
    const b = new NativeBackend(loadAddon().addon!);
    const make = (n: number) => b.makeTensorInfo([n], 'float32', b.f32(n));
    const big = 12 * 2 ** 20; // floats: 48 MB
    const small = [1, 2, 3, 4, 5].map((i) => i * 2 ** 18); // 1..5 MB, five size classes
    const allocated: number[] = [];
    for (let step = 0; step < 4; step++) {
      const g = make(big);
      const h = make(small[4]); // live beside the big one: the peak is 53 MB
      b.disposeData(g.dataId);
      b.disposeData(h.dataId);
      for (const n of small.slice(0, 4)) b.disposeData(make(n).dataId); // +10 MB of new classes (steady: reused)
      allocated.push(b.stats.allocated);
    }
    expect(allocated[0]).toBe(6);
    expect(allocated[3]).toBe(allocated[0]); // nothing allocated after the first step
    expect(b.stats.evicted).toBe(0);
    b.clearPool();
  });

  it('never recycles an array a caller has read (dataSync) or a view of it', async () => {
    await tf.setBackend('native');
    const x = tf.tensor1d([1, 2, 3, 4]);
    const y = tf.exp(x);
    const seen = y.dataSync();
    const copy = Array.from(seen);
    expect((await y.bytes()).length).toBe(16); // the data exactly, even from a larger pooled buffer
    y.dispose();
    const z = tf.tidy(() => tf.mul(tf.exp(x), 100)); // same size: would reuse y's buffer if it were pooled
    expect(Array.from(seen)).toEqual(copy);
    // a slice that is a view of a native output keeps that output's buffer out of the pool
    const big = tf.exp(x);
    const part = tf.tidy(() => tf.reshape(big, [2, 2]));
    big.dispose();
    const w = tf.mul(x, 3);
    expect(Array.from(part.dataSync())).toEqual(copy);
    tf.dispose([x, z, part, w]);
  });
});

function lmBatchFrom(r: Rng, B: number, T: number, V: number) {
  const ids = Array.from({ length: B * T }, () => r.int(V));
  const targets = Array.from({ length: B * T }, () => r.int(V));
  return {
    ids: tf.tensor2d(ids, [B, T], 'int32'),
    mask: tf.ones([B, T]) as tf.Tensor2D,
    targets: tf.tensor2d(targets, [B, T], 'int32'),
    targetsMask: tf.ones([B, T]) as tf.Tensor2D,
  };
}
