// Kernels per training step on a backend (default webgpu), for the GPT `ref` config of bench/train.ts
// and a small Llama (GQA) of the same size: one step (loss, gradients, global-norm clipping, AdamW)
// under tf.profile, after one warm-up step; prints the kernel count (tfjs kernel calls: Reshape and
// Identity among them, which move no data on webgpu), the GPU dispatches (compute shaders recorded:
// tfjs's own and ours from runtime/webgpu/dispatch.ts) and the most-called kernels.
// On a software adapter (lavapipe) the count is what means something, not the time.
// Usage: npx tsx bench/webgpu-kernels.ts [--backend webgpu|cpu|...] [--top N]
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/tensor-backend.ts';
import { GPT } from '../runtime/model/gpt.ts';
import { Llama } from '../runtime/model/llama.ts';
import type { CausalLM } from '../runtime/model/causal-lm.ts';
import { AdamW, clipByGlobalNorm } from '../runtime/optim.ts';
import { Rng } from '../runtime/rng.ts';
import { collate, type Row } from '../runtime/train/examples.ts';
import { dispatchStats } from '../runtime/webgpu/dispatch.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
const backend = opt('--backend') ?? 'webgpu';
const top = Number(opt('--top') ?? 10);
const [B, T, V] = [8, 64, 512];

const MODELS: Record<string, () => CausalLM> = {
  'gpt ref (width 128, 2 layers, 4 heads)': () => new GPT({ vocabSize: V, context: T, width: 128, layers: 2, heads: 4, dropout: 0 }, { seed: 1 }),
  'llama small (width 128, 2 layers, 4 heads, 2 kv heads)': () =>
    new Llama(
      { family: 'llama', vocabSize: V, context: T, width: 128, layers: 2, heads: 4, kvHeads: 2, headDim: 32, intermediate: 344, rmsNormEps: 1e-6, rope: { type: 'default', theta: 10000 }, tie: false, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0 },
      { seed: 1 },
    ),
};

const info = await initBackend(backend);
console.log(`${info.banner}; batch ${B}, context ${T}, vocab ${V}`);
// tfjs-backend-webgpu records each of its shaders through recordAndSubmit: count them
let tfjsDispatches = 0;
const be = tf.backend() as unknown as { recordAndSubmit?: (...a: unknown[]) => unknown };
if (be.recordAndSubmit) {
  const orig = be.recordAndSubmit.bind(be);
  be.recordAndSubmit = (...a: unknown[]) => {
    tfjsDispatches++;
    return orig(...a);
  };
}
for (const [label, make] of Object.entries(MODELS)) {
  const model = make();
  const params = model.trainable();
  const adam = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(2);
  const rows: Row[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T + 1 }, () => rng.int(V));
    return { ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) };
  });
  const batch = collate(rows, 0);
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => model.lmLoss(batch, { training: true }), vars);
    const named = new Map(names.map((n, i) => [n, grads[vars[i].name]]));
    const norm = clipByGlobalNorm(named, 1);
    adam.apply(named);
    await Promise.all([norm, value.data()]);
    value.dispose();
    for (const g of named.values()) g.dispose();
  };
  await step();
  const [d0, o0] = [tfjsDispatches, dispatchStats.count];
  const t0 = performance.now();
  const p = await tf.profile(step);
  const dispatches = tfjsDispatches - d0 + dispatchStats.count - o0;
  const ms = performance.now() - t0;
  const by = new Map<string, number>();
  for (const k of p.kernels) by.set(k.name, (by.get(k.name) ?? 0) + 1);
  const list = [...by].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`${label}: ${p.kernels.length} kernels per step, ${dispatches} GPU dispatches (${dispatchStats.count - o0} of them our WGSL) (${ms.toFixed(0)} ms wall, profiled)`);
  console.log(`  ${list.map(([n, c]) => `${n} ${c}`).join(', ')}`);
  adam.dispose();
  model.dispose();
  tf.disposeVariables();
}
