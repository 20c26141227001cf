// The model on the webgpu backend (Dawn; Mesa's lavapipe in CI) against the cpu backend: forward and
// backward of the GPT model with its heads and dropout, training steps through the loop's own
// optimizer step (global-norm clipping on the device), the LoRA paths, and KV-cache sampling — with
// tensors resident on the GPU, no synchronous GPU read, and a flat tensor count.
// Tolerances: loss 1e-5 absolute; every gradient and weight within 1e-4 of its tensor's largest
// magnitude (float32 sums in another order; measured about 1e-6 on lavapipe).
// Model families: GPT (attention dropout on: its training attention is the composite; LayerNorm the
// WGSL kernel) and a Llama with grouped-query heads, q/k RMSNorm and no dropout (attention and
// RMSNorm on the WGSL kernels of runtime/webgpu/, forward and backward).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { generate } from '../../runtime/model/decode.ts';
import type { Decoder } from '../../runtime/model/decoder.ts';
import { Llama } from '../../runtime/model/llama.ts';
import { AdamW, accumulateGrads } from '../../runtime/optim.ts';
import { optimizerStep } from '../../runtime/train/loop.ts';
import { lmBatch, tinyModel, tok } from '../runtime/helpers.ts';
import { adapter, relDiff, required, runWebGPU, skipLine } from './available.ts';

skipLine('webgpu model');

/** The model families run here: a tiny model of each, the same weights on every backend (seeded). */
/** cache: whether sampling on webgpu writes a preallocated KV cache in place (GQA too: the cache holds the K kv heads). */
const FAMILIES: { name: string; make: (heads?: ('value' | 'reward')[]) => Decoder; lora: string[]; cache: boolean }[] = [
  { name: 'gpt', make: (heads = []) => tinyModel({ dropout: 0.1 }, 3, heads), lora: ['c_attn', 'c_fc'], cache: true },
  {
    name: 'llama (GQA, q/k norm)',
    make: (heads = []) =>
      new Llama(
        { family: 'qwen3', vocabSize: tok.vocabSize, context: 32, width: 16, layers: 2, heads: 4, kvHeads: 2, headDim: 6, intermediate: 24, rmsNormEps: 1e-6, rope: { type: 'default', theta: 10000 }, tie: false, qkvBias: false, oBias: false, mlpBias: false, qkNorm: true, dropout: 0 },
        { seed: 3, heads },
      ),
    lora: ['q_proj', 'v_proj', 'gate_proj'],
    cache: true,
  },
];

/** Calls of the webgpu backend's readSync that had to read the GPU (values not already on the CPU). */
function countGpuSyncReads(): { count: () => number; restore: () => void } {
  const backend = tf.backend() as unknown as { readSync(id: object): unknown; tensorMap: { get(id: object): { values?: unknown } } };
  const orig = backend.readSync.bind(backend);
  let n = 0;
  backend.readSync = (id: object) => {
    if (backend.tensorMap.get(id)?.values == null) n++;
    return orig(id);
  };
  return { count: () => n, restore: () => void (backend.readSync = orig) };
}

describe('webgpu prerequisites', () => {
  it('finds a WebGPU adapter when RLHFC_REQUIRE_WEBGPU=1', () => {
    if (required) expect(adapter, 'no WebGPU adapter: install a Vulkan driver (CI: mesa-vulkan-drivers from bookworm-backports)').toBeDefined();
  });
});

describe.skipIf(!runWebGPU)('webgpu backend', () => {
  it('initialises, names its adapter, and says when it is a software one', async () => {
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.adapter).toBeDefined();
    expect(info.banner).toContain(info.adapter!.vendor);
    expect(info.banner.includes('software adapter')).toBe(info.adapter!.software);
    if (/llvmpipe|lavapipe/.test(info.adapter!.description)) expect(info.adapter!.software).toBe(true);
  });

  it('adds more tensors than a shader may bind (AddN of 29) as the cpu backend does', async () => {
    const xs = (n: number) => Array.from({ length: n }, (_, i) => tf.tensor1d([i, -2 * i, 0.5 + i]));
    for (const n of [2, 7, 8, 15, 29]) {
      await initBackend('cpu');
      const a = xs(n);
      const want = await tf.addN(a).data();
      tf.dispose(a);
      await initBackend('webgpu');
      const before = tf.memory().numTensors;
      const b = xs(n);
      const s = tf.addN(b);
      expect(Array.from(await s.data())).toEqual(Array.from(want));
      tf.dispose([s, ...b]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  for (const fam of FAMILIES) {
    it(`${fam.name}: loss and every gradient (LM, value and reward heads; GPT with dropout) equal the cpu backend's`, async () => {
      const run = async (backend: string) => {
        await initBackend(backend);
        const m = fam.make(['value', 'reward']);
        const b = lmBatch(3, 14);
        const params = m.trainable();
        const names = [...params.keys()];
        const vars = names.map((n) => params.get(n)!);
        const { value, grads } = tf.variableGrads(() => {
          const ids = tf.tensor2d(b.ids, [b.B, b.T], 'int32');
          const mask = tf.tensor2d(b.mask, [b.B, b.T]);
          const r = m.rewards(ids, mask, tf.tensor1d(b.lastIndex, 'int32'), { training: true });
          const v = m.values(ids, mask, { training: true });
          return tf.addN([m.lmLoss(b, { training: true }), tf.mean(r), tf.mean(tf.square(v))]) as tf.Scalar;
        }, vars);
        const out = { loss: (await value.data())[0], grads: await Promise.all(vars.map(async (v) => await grads[v.name].data())) };
        tf.dispose([value, ...Object.values(grads)]);
        m.dispose();
        return { ...out, names };
      };
      const cpu = await run('cpu');
      const gpu = await run('webgpu');
      expect(gpu.names).toEqual(cpu.names);
      expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5);
      cpu.grads.forEach((g, i) => expect(relDiff(gpu.grads[i], g), cpu.names[i]).toBeLessThan(1e-4));
    });

    it(`${fam.name}: training steps (accumulated micro-batches, clipping on the device, AdamW) follow the cpu backend, tensors stay on the GPU, no synchronous GPU read`, async () => {
      const run = async (backend: string, lora: boolean) => {
        await initBackend(backend);
        const m = fam.make(['value']);
        if (lora) m.addLora({ r: 2, alpha: 4, targets: fam.lora, seed: 9 });
        const params = m.trainable();
        const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.1 });
        const batches = [lmBatch(2, 12), lmBatch(2, 10)];
        const parts = { params, optimizer: opt, lrAt: () => 1e-2, gradClip: 0.5 };
        const trace: number[] = [];
        const reads = backend === 'webgpu' ? countGpuSyncReads() : undefined;
        let live = 0;
        try {
          for (let s = 0; s < 4; s++) {
            const { loss, grads } = accumulateGrads(params, 2, (i) => m.lmLoss(batches[i], { training: true }));
            const { gradNorm } = await optimizerStep(parts, grads, s);
            trace.push(await loss, gradNorm);
            if (s === 0) live = tf.memory().numTensors;
            else expect(tf.memory().numTensors).toBe(live);
          }
        } finally {
          reads?.restore();
        }
        if (reads) expect(reads.count()).toBe(0);
        if (backend === 'webgpu') {
          const engine = tf.engine() as unknown as { state: { tensorInfo: WeakMap<object, { backend: unknown }> } };
          for (const v of params.values()) expect(engine.state.tensorInfo.get(v.dataId)?.backend).toBe(tf.backend());
        }
        const names = [...params.keys()];
        const weights = await Promise.all(names.map(async (n) => await params.get(n)!.data()));
        // LoRA: merged weights give the same logits as the adapters
        let merged = 0;
        if (lora) {
          const ids = tf.tensor2d(batches[0].ids, [batches[0].B, batches[0].T], 'int32');
          const a = m.hidden(ids);
          m.mergeLora();
          m.lora!.enabled = false;
          const b = m.hidden(ids);
          merged = relDiff(await b.data(), await a.data());
          tf.dispose([ids, a, b]);
        }
        opt.dispose();
        m.dispose();
        return { trace, names, weights, merged };
      };
      for (const lora of [false, true]) {
        const cpu = await run('cpu', lora);
        const gpu = await run('webgpu', lora);
        expect(gpu.names).toEqual(cpu.names);
        if (lora) expect(cpu.names.some((n) => n.includes('lora_A'))).toBe(true);
        cpu.trace.forEach((x, i) => expect(Math.abs(gpu.trace[i] - x), `trace ${i} (lora ${lora})`).toBeLessThan(1e-4 * Math.max(1, Math.abs(x))));
        cpu.weights.forEach((w, i) => {
          const name = `${cpu.names[i]} (lora ${lora})`;
          if (!/attn\.c_attn\.bias$/.test(cpu.names[i])) return expect(relDiff(gpu.weights[i], w), name).toBeLessThan(1e-4);
          // GPT's key bias: its true gradient is 0 (softmax ignores a constant added to every score of a
          // row), so its computed gradient is float32 rounding noise (~1e-12) that differs by backend and
          // that AdamW scales up (noise/ε): compared absolutely, the query and value biases relatively
          const C = w.length / 3;
          const [gk, ck] = [gpu.weights[i].slice(C, 2 * C), w.slice(C, 2 * C)];
          expect(Math.max(...Array.from(gk).map((x, j) => Math.abs(x - ck[j]))), `${name} key part`).toBeLessThan(1e-4);
          for (const [a, b] of [[0, C], [2 * C, 3 * C]]) expect(relDiff(gpu.weights[i].slice(a, b), w.slice(a, b)), `${name} [${a}, ${b})`).toBeLessThan(1e-4);
        });
        if (lora) expect(gpu.merged).toBeLessThan(1e-4);
      }
    });

    it(`${fam.name}: KV-cache sampling on the GPU (a cache written in place, K kv heads for GQA) gives the cpu backend's tokens, greedy and seeded`, async () => {
      const prompts = [tok.encode('Four score'), tok.encode('a new'), tok.encode('c')];
      const opts = { maxNewTokens: 6, eosId: tok.eosId, padId: tok.padId };
      const run = async (backend: string) => {
        await initBackend(backend);
        const m = fam.make();
        const before = tf.memory().numTensors;
        const slots = m.kvSlots(1, 4);
        expect(slots !== undefined).toBe(backend === 'webgpu' && fam.cache);
        if (slots) tf.dispose([...slots.k, ...slots.v]);
        const reads = backend === 'webgpu' ? countGpuSyncReads() : undefined;
        const greedy = await generate(m, prompts, { ...opts, temperature: 0 });
        const full = await generate(m, prompts, { ...opts, temperature: 0, useCache: false });
        const sampled = await generate(m, prompts, { ...opts, temperature: 1, topK: 20, topP: 0.95, seed: 4 });
        reads?.restore();
        if (reads) expect(reads.count()).toBe(0);
        expect(full.tokens).toEqual(greedy.tokens);
        expect(tf.memory().numTensors).toBe(before);
        m.dispose();
        return { greedy: greedy.tokens, sampled: sampled.tokens };
      };
      const cpu = await run('cpu');
      const gpu = await run('webgpu');
      expect(gpu.greedy).toEqual(cpu.greedy);
      expect(gpu.sampled).toEqual(cpu.sampled);
    });
  }
});
