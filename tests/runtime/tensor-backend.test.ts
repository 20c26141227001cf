// Smoke test on the wasm backend: it lacks UnsortedSegmentSum (embedding gradients) and its fast
// matmul only handles rank-2 products; the model must train and generate there too.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { loadAddon } from '../../runtime/native/addon.ts';
import { adapterLine, describe as describeAdapter, isSoftware, probeAdapter } from '../../runtime/webgpu/setup.ts';
import { spawnSync } from 'node:child_process';
import { generate } from '../../runtime/model/decode.ts';
import { AdamW } from '../../runtime/optim.ts';
import { lmBatch, tinyModel, tok } from './helpers.ts';

describe('wasm backend', () => {
  it('initialises, trains (embedding gradients included) and generates', async () => {
    const info = await initBackend('wasm');
    expect(info.name).toBe('wasm');
    expect(info.banner).toMatch(/^backend: wasm/);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined();
    const m = tinyModel({}, 1);
    const params = m.trainable();
    const vars = [...params.values()];
    const opt = new AdamW(params, { lr: 1e-2 });
    const batch = lmBatch(2, 16);
    const losses: number[] = [];
    const wte0 = m.w('transformer.wte.weight').dataSync().slice();
    for (let s = 0; s < 10; s++) {
      const { value, grads } = tf.variableGrads(() => m.lmLoss(batch, { training: true }), vars);
      losses.push(value.dataSync()[0]);
      opt.apply(new Map([...params].map(([n, v]) => [n, grads[v.name]])));
      value.dispose();
      tf.dispose(grads);
    }
    expect(losses[9]).toBeLessThan(losses[0] - 0.3);
    expect(m.w('transformer.wte.weight').dataSync().some((x, i) => x !== wte0[i])).toBe(true);
    const before = tf.memory().numTensors;
    const g = await generate(m, [tok.encode('Four score'), tok.encode('a new')], { maxNewTokens: 4, eosId: tok.eosId, padId: tok.padId, temperature: 0 });
    const h = await generate(m, [tok.encode('Four score'), tok.encode('a new')], { maxNewTokens: 4, eosId: tok.eosId, padId: tok.padId, temperature: 0, useCache: false });
    expect(g.tokens).toEqual(h.tokens);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    m.dispose();
  });

  it('gives the same loss and gradients as the cpu backend', async () => {
    const run = async (name: string) => {
      await initBackend(name);
      const m = tinyModel({}, 2, ['reward']);
      const b = lmBatch(2, 12);
      const names = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.1.ln_2.weight'];
      const vars = names.map((n) => m.w(n));
      const { value, grads } = tf.variableGrads(() => {
        const ids = tf.tensor2d(b.ids, [b.B, b.T], 'int32');
        const r = m.rewards(ids, tf.tensor2d(b.mask, [b.B, b.T]), tf.tensor1d(b.lastIndex, 'int32'));
        return tf.add(m.lmLoss(b), tf.mean(r)) as tf.Scalar;
      }, vars);
      const out = { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name].dataSync())) };
      value.dispose();
      tf.dispose(grads);
      m.dispose();
      return out;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expect(wasm.loss).toBeCloseTo(cpu.loss, 4);
    cpu.grads.forEach((g, i) => {
      const scale = Math.max(...g.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      const diff = Math.max(...g.map((x, j) => Math.abs(x - wasm.grads[i][j])));
      expect(diff / scale).toBeLessThan(1e-3);
    });
  });

  it('explains a missing tfjs-node for the tensorflow backend; auto takes a hardware WebGPU adapter, else native when built, else wasm', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(/needs @tensorflow\/tfjs-node/);
    await expect(initBackend('gpu')).rejects.toThrow(/unknown backend 'gpu'; choose one of auto, webgpu, native, tensorflow, wasm, cpu/);
    const hardwareGpu = probeAdapter()?.software === false;
    expect((await initBackend('auto')).name).toBe(hardwareGpu ? 'webgpu' : loadAddon().addon ? 'native' : 'wasm');
    expect((await initBackend('cpu')).banner).toBe('backend: cpu (1 thread)');
  });
});

describe('webgpu backend selection (no adapter needed)', () => {
  it('tells software adapters from hardware ones and names the adapter', () => {
    const lavapipe = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', isFallbackAdapter: true };
    expect(isSoftware(lavapipe)).toBe(true);
    expect(isSoftware({ ...lavapipe, isFallbackAdapter: false })).toBe(true); // by its names too
    expect(isSoftware({ vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' })).toBe(true);
    const h200 = { vendor: 'nvidia', architecture: 'hopper', device: '0x2335', description: 'NVIDIA H200', isFallbackAdapter: false };
    expect(isSoftware(h200)).toBe(false);
    expect(adapterLine(describeAdapter(h200))).toBe('nvidia hopper (0x2335, NVIDIA H200)');
    expect(adapterLine(describeAdapter(lavapipe))).toMatch(/^mesa software \(llvmpipe-llvm-15, llvmpipe: .*\) — a software adapter: for correctness, not speed$/);
  });

  it('--backend webgpu without a driver Dawn can use is a clear error saying how to get one', () => {
    const r = spawnSync(process.execPath, ['bin/rlhfc.mjs', 'run', 'tests/webgpu/tiny.rlhf', '--backend', 'webgpu', '--store', '/tmp/rlhfc-no-driver-store'], {
      encoding: 'utf8',
      env: { ...process.env, VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error RLHF9001: backend 'webgpu' is not available: Dawn found no GPU adapter/);
    expect(r.stderr).toMatch(/mesa-vulkan-drivers/);
    expect(r.stderr).not.toMatch(/at initBackend|tensor-backend\.ts:/);
  });
});
