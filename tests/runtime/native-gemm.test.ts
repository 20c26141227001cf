// The native backend's own GEMM (runtime/native/src/gemm.cc) and its thread pool: every transpose
// combination, sizes around and across the micro-kernel's tile and the cache blocks (odd sizes,
// one row, K past one block, N past one column block), batches with a shared side, threaded and
// single-threaded products, for each SIMD table (AVX-512, AVX2, baseline x86-64, forced with
// RLHFC_NATIVE_SIMD in a child process) and for OpenBLAS when it is installed — against a float64
// reference. Then the same products through TensorFlow.js against the cpu backend, with a flat
// tensor count. Skipped when the addon is not built, unless RLHFC_REQUIRE_NATIVE=1.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH, loadAddon } from '../../runtime/native/addon.ts';
import { registerNative } from '../../runtime/native/backend.ts';
import { Rng } from '../../runtime/rng.ts';

const available = loadAddon().addon !== undefined;
const required = process.env.RLHFC_REQUIRE_NATIVE === '1';
const flags = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
})();
const simds = ['base', ...(/ avx2 /.test(flags) && / fma /.test(flags) ? ['avx2'] : []), ...(/ avx512f /.test(flags) && / avx512bw /.test(flags) ? ['avx512'] : [])];

// [batchA, batchB, M, N, K]: odd sizes, one row, around the tiles (MR 6/14, NR 8/16/32), K past
// the 256 block, N past the 1024 block, and products large enough for the thread pool (≥ 2^21).
const SHAPES: number[][] = [
  [1, 1, 1, 1, 1],
  [1, 1, 3, 5, 7],
  [1, 1, 1, 768, 300],
  [1, 1, 13, 77, 45],
  [1, 1, 14, 32, 256],
  [1, 1, 15, 33, 257],
  [1, 1, 29, 65, 300],
  [1, 1, 130, 97, 513],
  [1, 1, 40, 1100, 70],
  [1, 1, 256, 256, 64],
  [1, 1, 20, 600, 300],
  [3, 3, 5, 7, 9],
  [24, 24, 64, 64, 32],
  [4, 1, 33, 17, 19],
  [1, 4, 33, 17, 19],
];

/** A child process that loads the addon with `env` and checks every shape × transpose against float64. */
function checkInChild(env: NodeJS.ProcessEnv): { info: { simd: string; gemm: string }; worst: number; cases: number } {
  const code = `
    const addon = require(${JSON.stringify(ADDON_PATH)});
    addon.setThreads(2, 2 ** 26, 2 ** 21);
    const shapes = ${JSON.stringify(SHAPES)};
    let seed = 7, worst = 0, cases = 0;
    const rnd = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2);
    for (const [bA, bB, M, N, K] of shapes) for (const tA of [0, 1]) for (const tB of [0, 1]) {
      const A = rnd(bA * M * K), B = rnd(bB * K * N), batch = Math.max(bA, bB), C = new Float32Array(batch * M * N).fill(NaN);
      addon.matmul(A, B, C, Int32Array.of(bA, bB, M, N, K, tA, tB, 0), null);
      for (let b = 0; b < batch; b++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        const a0 = bA > 1 ? b * M * K : 0, b0 = bB > 1 ? b * K * N : 0;
        for (let k = 0; k < K; k++) s += A[a0 + (tA ? k * M + i : i * K + k)] * B[b0 + (tB ? j * K + k : k * N + j)];
        const e = Math.abs(C[b * M * N + i * N + j] - s) / Math.max(1, Math.sqrt(K));
        if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
      }
      cases++;
    }
    console.log(JSON.stringify({ info: addon.info(), worst, cases }));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe.skipIf(!available && !required)('native GEMM', () => {
  for (const simd of simds) {
    it(`own GEMM (${simd} micro-kernel) matches a float64 reference for all transposes, odd and batched sizes`, () => {
      const r = checkInChild({ RLHFC_NATIVE_SIMD: simd, RLHFC_NATIVE_BLAS: 'own' });
      expect(r.info.simd).toBe(`k_${simd}`);
      expect(r.info.gemm).toBe('own');
      expect(r.cases).toBe(SHAPES.length * 4);
      expect(r.worst).toBeLessThan(2e-5);
    });
  }

  it('one-thread products match too (setThreads(1); RLHFC_NATIVE_MT_MIN above every product)', () => {
    const code = `const a = require(${JSON.stringify(ADDON_PATH)}); a.setThreads(1); console.log(JSON.stringify(a.info()))`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout).blasThreads).toBe(1);
    const c = checkInChild({ RLHFC_NATIVE_BLAS: 'own', RLHFC_NATIVE_MT_MIN: String(2 ** 40) });
    expect(c.worst).toBeLessThan(2e-5);
  });

  it('the addon links no BLAS (it builds with only g++ and make): OpenBLAS is loaded only on request', () => {
    const r = spawnSync('ldd', [ADDON_PATH], { encoding: 'utf8' });
    if (r.status !== 0) return; // no ldd here: nothing to check
    expect(r.stdout).not.toMatch(/blas/i);
    expect((checkInChild({}).info as unknown as { gemm: string }).gemm).toEqual(process.env.RLHFC_NATIVE_BLAS === 'openblas' ? expect.any(String) : 'own');
  });

  it('RLHFC_NATIVE_BLAS=openblas uses OpenBLAS when libopenblas.so.0 loads, else says why and keeps our GEMM', () => {
    const r = checkInChild({ RLHFC_NATIVE_BLAS: 'openblas' });
    const info = r.info as unknown as { gemm: string; openblas: string };
    if (info.gemm === 'openblas') expect(info.openblas).toBe('');
    else expect(info.openblas).toMatch(/not found|lacks/);
    expect(r.worst).toBeLessThan(2e-5);
  });

  it('products through TensorFlow.js agree with the cpu backend, with a flat tensor count', async () => {
    expect(registerNative().ok).toBe(true);
    const cases: [number[], number[], boolean, boolean][] = [
      [[33, 70], [70, 45], false, false],
      [[70, 33], [70, 45], true, false],
      [[33, 70], [45, 70], false, true],
      [[70, 33], [45, 70], true, true],
      [[2, 3, 64, 16], [2, 3, 64, 16], false, true], // attention scores
      [[2, 3, 64, 64], [2, 3, 64, 16], false, false], // attention · values
      [[2, 3, 64, 64], [2, 3, 64, 16], true, false], // dV
      [[4, 64, 96], [96, 288], false, false], // a batched linear layer, folded into one product
      [[1, 96], [300, 96], false, true], // one row against a tied head
    ];
    const rng = new Rng(5);
    const data = (s: number[]) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1);
    for (const [sa, sb, ta, tb] of cases) {
      const [a, b] = [data(sa), data(sb)];
      const out: Float32Array[] = [];
      for (const name of ['cpu', 'native']) {
        await tf.setBackend(name);
        const before = tf.memory().numTensors;
        const y = tf.tidy(() => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb));
        out.push(y.dataSync() as Float32Array);
        y.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
      const [c, n] = out;
      expect(n.length).toBe(c.length);
      let worst = 0;
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - n[i]));
      expect(worst, `${sa}·${sb} ${ta} ${tb}`).toBeLessThan(1e-4);
    }
  });
});

describe.skipIf(!available && !required)('native fused attention', () => {
  const rng = new Rng(11);
  const t = (shape: number[], lo = -1, hi = 1) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.next()), shape);
  /** Additive mask: causal over the last T of L positions, plus padded keys for row 1 (as gpt.ts builds it). */
  const maskBias = (B: number, T: number, L: number, pad = true) => {
    const d = new Float32Array(B * T * L);
    for (let b = 0; b < B; b++) for (let q = 0; q < T; q++) for (let k = 0; k < L; k++) d[(b * T + q) * L + k] = k <= L - T + q && !(pad && b === 1 && k === 0) ? 0 : -1e9;
    return tf.tensor(d, [B, 1, T, L]);
  };
  const composite = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor) =>
    tf.matMul(tf.softmax(tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(q.shape[3])), k, false, true), bias), -1), v);

  it('forward and gradients agree with the composite ops on the cpu backend (training shapes, a KV-cache step, shared and per-row masks)', async () => {
    expect(registerNative().ok).toBe(true);
    const { attention } = await import('../../runtime/model/ops.ts');
    for (const [B, H, T, L, D] of [
      [2, 3, 7, 7, 5],
      [2, 2, 16, 16, 16],
      [2, 4, 1, 9, 8],
      [2, 2, 3, 11, 33],
    ]) {
      const ins = [t([B, H, T, D]), t([B, H, L, D]), t([B, H, L, D]), t([B, H, T, D])];
      const bias = maskBias(B, T, L);
      const shared = tf.slice(bias, [0, 0, 0, 0], [1, 1, T, L]);
      const res: number[][][] = [];
      for (const name of ['cpu', 'native']) {
        await tf.setBackend(name);
        const before = tf.memory().numTensors;
        const r = tf.tidy(() => {
          const [q, k, v, w] = ins.map((x) => tf.tensor(x.dataSync(), x.shape as never)) as tf.Tensor4D[];
          const [bb, sb] = [tf.tensor(bias.dataSync(), bias.shape), tf.tensor(shared.dataSync(), shared.shape)];
          const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, bb), w));
          return [attention(q, k, v, bb), attention(q, k, v, sb), composite(q, k, v, sb), ...tf.grads(f)([q, k, v])];
        });
        res.push(r.map((x) => Array.from(x.dataSync())));
        tf.dispose(r);
        expect(tf.memory().numTensors, `${name}: flat tensor count`).toBe(before);
      }
      const [c, n] = res;
      c.forEach((arr, i) => arr.forEach((x, j) => expect(Math.abs(x - n[i][j]), `[${B},${H},${T},${L},${D}] output ${i}[${j}]`).toBeLessThan(2e-5 * Math.max(1, Math.abs(x)))));
      tf.dispose([...ins, bias, shared]);
    }
  });

  it('gradients match central finite differences', async () => {
    expect(registerNative().ok).toBe(true);
    await tf.setBackend('native');
    const { attention } = await import('../../runtime/model/ops.ts');
    const [B, H, T, D] = [2, 2, 5, 4];
    const q = t([B, H, T, D], -2, 2) as tf.Tensor4D;
    const k = t([B, H, T, D], -2, 2) as tf.Tensor4D;
    const v = t([B, H, T, D], -2, 2) as tf.Tensor4D;
    const w = t([B, H, T, D]);
    const bias = maskBias(B, T, T, false); // no fully masked row (flat in float32: −1e9 + s rounds to −1e9)
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, bias), w));
    const grads = tf.grads(loss)([q, k, v]).map((g) => g.dataSync());
    const eps = 1e-2;
    let checked = 0;
    [q, k, v].forEach((x, which) => {
      const base = x.dataSync();
      for (let i = 0; i < base.length; i += 7) {
        const at = (d: number) => {
          const p = base.slice();
          p[i] += d;
          const args = [q, k, v].map((y, j) => (j === which ? tf.tensor(p, x.shape) : y));
          const l = tf.tidy(() => loss(args[0], args[1], args[2]).dataSync()[0]);
          if (args[which] !== x) args[which].dispose();
          return l;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(fd - grads[which][i]), `input ${which} element ${i}: fd ${fd} analytic ${grads[which][i]}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(30);
    tf.dispose([q, k, v, w, bias]);
  });
});

describe.skipIf(!available && !required)('native linear layers', () => {
  it('linear (bias in the product) and linearT (weight read transposed) agree with cpu, with gradients, frozen or not', async () => {
    expect(registerNative().ok).toBe(true);
    const { linear, linearT } = await import('../../runtime/model/ops.ts');
    const rng = new Rng(21);
    const d = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    const [x, w, wt, b, dy] = [d(2 * 5 * 24), d(24 * 40), d(40 * 24), d(40), d(2 * 5 * 40)];
    const res: number[][][] = [];
    for (const name of ['cpu', 'native']) {
      await tf.setBackend(name);
      const before = tf.memory().numTensors;
      const r = tf.tidy(() => {
        const [tx, tw, twt, tb, tdy] = [tf.tensor(x, [2, 5, 24]), tf.tensor2d(w, [24, 40]), tf.tensor2d(wt, [40, 24]), tf.tensor1d(b), tf.tensor(dy, [2, 5, 40])];
        const outs: tf.Tensor[] = [];
        for (const frozen of [false, true]) {
          const l1 = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(linear(a, c as tf.Tensor2D, e as tf.Tensor1D, frozen), tdy));
          const l2 = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(linearT(a, c as tf.Tensor2D, e as tf.Tensor1D, frozen), tdy));
          const l3 = (a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(linearT(a, c as tf.Tensor2D, undefined, frozen), tdy));
          outs.push(linear(tx, tw, tb, frozen), linearT(tx, twt, tb, frozen));
          if (frozen) outs.push(tf.grad((a: tf.Tensor) => l1(a, tw, tb))(tx), tf.grad((a: tf.Tensor) => l2(a, twt, tb))(tx));
          else outs.push(...tf.grads(l1)([tx, tw, tb]), ...tf.grads(l2)([tx, twt, tb]), ...tf.grads(l3)([tx, twt]));
        }
        return outs;
      });
      res.push(r.map((t) => Array.from(t.dataSync())));
      tf.dispose(r);
      expect(tf.memory().numTensors).toBe(before);
    }
    const [c, n] = res;
    expect(n.length).toBe(c.length);
    c.forEach((arr, i) => arr.forEach((v, j) => expect(Math.abs(v - n[i][j]), `output ${i}[${j}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)))));
  });
});
