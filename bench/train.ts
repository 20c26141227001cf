// Training-step benchmark: ms/step, tokens/s and peak resident memory of the same GPT training step
// (AdamW, global-norm clipping) on native (our own GEMM), native (OpenBLAS), wasm, WebGPU and PyTorch
// (CPU; on a machine with CUDA also CUDA eager fp32 and CUDA with bf16 autocast), each in its own
// process, from one run, with ratios to PyTorch (to PyTorch CUDA fp32 for the GPU rows).
// On a GPU machine without Node.js: bench/gpu/ (prepare.sh here, run.sh there).
// Configs: `ref` (vocab 512, width 128, 2 layers, 4 heads, context 64, batch 8), `large` (width 256,
// 4 layers, context 128, batch 8), `gpt2` (GPT-2 small: vocab 50,257, width 768, 12 layers, 12
// heads, context 256, batch 4) — GPT-2 blocks; `smollm2` (SmolLM2-135M's shape, a Llama: vocab
// 49,152, hidden 576, 30 layers, 9 heads, 3 KV heads, head_dim 64, intermediate 1,536, tied, RMSNorm
// ε 1e-5, rope θ 100,000; context 256, batch 4), always with LoRA r=8 on all seven projections, and on
// the PyTorch side transformers' LlamaForCausalLM + PEFT (runtime/model/llama.ts here).
// Usage: npx tsx bench/train.ts [--config ref|large|gpt2|smollm2|all (default ref,large)] [--steps N] [--lora]
//          [--only native-own,native-openblas,wasm,webgpu,pytorch,pytorch-cuda,pytorch-cuda-bf16] [--profile]
// --profile: for the native runs, also the kernel calls per step and the time inside kernels; the
// rest of the step is TensorFlow.js engine and JavaScript overhead (tape, bookkeeping, GC). For
// webgpu, one more step under tf.profile: kernels per step and GPU time per kernel (timestamp queries).
// webgpu is run only when Dawn finds an adapter; on a software one (lavapipe) only with --only webgpu.
// --lora: LoRA r=8 (alpha 16, no dropout) on every projection, body frozen, on both sides (GPT-2:
// c_attn, c_proj, c_fc; Llama: q, k, v, o, gate, up, down_proj).
// PyTorch: $RLHFC_PYTHON, else ./.venv/bin/python, else python3 — the first that imports torch.
// Reports the median over the timed steps (after warm-up steps) and the fastest step, as measured.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/tensor-backend.ts';
import { probeAdapter } from '../runtime/webgpu/setup.ts';
import { describeShape, loraTargets, makeModel, SHAPES, type ModelShape } from './models.ts';
import { AdamW, clipByGlobalNorm } from '../runtime/optim.ts';
import { Rng } from '../runtime/rng.ts';
import { collate, type Row } from '../runtime/train/examples.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
/** A shape (bench/models.ts) with the bench's batch and step counts; `lora`: always with LoRA. */
type Config = ModelShape & { batch: number; steps: number; warmup: number; lora?: boolean };
const CONFIGS: Record<string, Config> = {
  ref: { ...SHAPES.ref, batch: 8, steps: 20, warmup: 3 },
  large: { ...SHAPES.large, batch: 8, steps: 20, warmup: 3 },
  gpt2: { ...SHAPES.gpt2, batch: 4, steps: 5, warmup: 2 },
  // PyTorch's first steps on this shape take several times longer than later ones (allocation): 2 warm-up steps
  smollm2: { ...SHAPES.smollm2, batch: 4, steps: 3, warmup: 2, lora: true },
};
const withLora = (cfg: Config) => args.includes('--lora') || !!cfg.lora;
const fmt = (ms: number) => ms.toFixed(1).padStart(8);

interface Result {
  label: string;
  ms: number;
  min: number;
  tokensPerS: number;
  rssMB: number;
  detail: string;
}

/** Worker: one backend, one config, in this process; prints one JSON line. */
async function worker(name: string, key: string, steps: number): Promise<void> {
  const cfg = CONFIGS[key];
  const info = await initBackend(name);
  if (info.name !== name) throw new Error(`${name} is not available (got ${info.name})`);
  // --profile: wrap every kernel of this backend with a call counter and a timer
  const prof = { calls: 0, ms: 0, on: false, byKernel: new Map<string, { calls: number; ms: number }>() };
  if (args.includes('--profile') && name !== 'webgpu') {
    for (const k of tf.getKernelsForBackend(name)) {
      const fn = k.kernelFunc;
      tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel({
        ...k,
        kernelFunc: ((a: never) => {
          if (!prof.on) return fn(a);
          const t0 = performance.now();
          const r = fn(a);
          const dt = performance.now() - t0;
          prof.ms += dt;
          prof.calls++;
          const e = prof.byKernel.get(k.kernelName) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += dt;
          prof.byKernel.set(k.kernelName, e);
          return r;
        }) as tf.KernelFunc,
      });
    }
  }
  const model = makeModel(cfg);
  if (withLora(cfg)) model.addLora({ r: 8, alpha: 16, dropout: 0, targets: loraTargets(model.family) });
  const params = model.trainable();
  const adam = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(2);
  const rows: Row[] = Array.from({ length: cfg.batch }, () => {
    const ids = Array.from({ length: cfg.context + 1 }, () => rng.int(cfg.vocabSize));
    return { ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) };
  });
  const batch = collate(rows, 0);
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const times: number[] = [];
  let live = 0;
  let profStepMs = 0;
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => model.lmLoss(batch, { training: true }), vars);
    const named = new Map(names.map((n, i) => [n, grads[vars[i].name]]));
    const norm = clipByGlobalNorm(named, 1);
    adam.apply(named);
    await Promise.all([norm, value.data()]); // the step's end (on webgpu: waits for the queued work)
    value.dispose();
    for (const g of named.values()) g.dispose();
  };
  for (let s = 0; s < steps + cfg.warmup; s++) {
    prof.on = s >= cfg.warmup;
    const t0 = performance.now();
    await step();
    if (s >= cfg.warmup) times.push(performance.now() - t0);
    if (s >= cfg.warmup) profStepMs += performance.now() - t0;
    if (s === cfg.warmup) live = tf.memory().numTensors;
    else if (s > cfg.warmup && tf.memory().numTensors !== live) throw new Error(`tensor leak: ${live} → ${tf.memory().numTensors} live tensors`);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const r: Result = {
    label: info.banner.replace(/^backend: /, ''),
    ms,
    min: times[0],
    tokensPerS: (cfg.batch * cfg.context * 1000) / ms,
    rssMB: process.resourceUsage().maxRSS / 1024,
    detail: `${live} live tensors (flat)`,
  };
  if (name === 'webgpu' && args.includes('--profile')) {
    prof.on = false;
    const p = await tf.profile(step);
    const by = new Map<string, { calls: number; ms: number }>();
    let gpuMs = 0;
    for (const k of p.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const e = by.get(k.name) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += ms;
      gpuMs += ms;
      by.set(k.name, e);
    }
    r.detail += `; profiled step: ${p.kernels.length} kernels, ${gpuMs.toFixed(1)} ms GPU time in kernels (timestamp queries)`;
    const top = [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
    r.detail += `\n      per step: ${top.map(([n, e]) => `${n} ${e.calls}× ${e.ms.toFixed(1)} ms`).join(', ')}`;
  } else if (prof.calls > 0) {
    r.detail += `; ${Math.round(prof.calls / steps)} kernel calls/step, ${(prof.ms / steps).toFixed(1)} ms/step in kernels, ${((profStepMs - prof.ms) / steps).toFixed(1)} ms/step outside (engine, JS, GC; ${(((profStepMs - prof.ms) / profStepMs) * 100).toFixed(0)}%)`;
    const top = [...prof.byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
    r.detail += `\n      per step: ${top.map(([n, e]) => `${n} ${(e.calls / steps).toFixed(0)}× ${(e.ms / steps).toFixed(1)} ms`).join(', ')}`;
  }
  console.log(JSON.stringify(r));
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** How a worker process runs this file: through tsx from the checkout, or itself once bundled (bench/gpu/). */
const SELF = import.meta.url.endsWith('.ts') ? ['--import', 'tsx', `${here}train.ts`] : [fileURLToPath(import.meta.url)];
const root = fileURLToPath(new URL('..', import.meta.url));

/** Python with torch: RLHFC_PYTHON, the repo's .venv, then python3. */
export function findPython(): string | undefined {
  const cands = [process.env.RLHFC_PYTHON, `${root}.venv/bin/python`, 'python3'].filter((p): p is string => !!p && (p === 'python3' || existsSync(p)));
  return cands.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

function child(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Result | string {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return ((r.stderr || r.stdout || '').trim().split('\n').filter((l) => /rror|not available/.test(l))[0] ?? `exit ${r.status}`).trim();
  return JSON.parse(line) as Result;
}

async function main(): Promise<void> {
  const keys = (opt('--config') ?? 'ref,large').replace('all', 'ref,large,gpt2').replace('both', 'ref,large').split(',');
  const only = opt('--only')?.split(',');
  const py = findPython();
  for (const key of keys) {
    const cfg = CONFIGS[key];
    if (!cfg) throw new Error(`unknown --config ${key}: ${Object.keys(CONFIGS).join(', ')} or all (ref, large, gpt2)`);
    const steps = Number(opt('--steps') ?? cfg.steps);
    const lora = withLora(cfg);
    console.log(
      `${key} config (${describeShape(cfg)}), context ${cfg.context}, batch ${cfg.batch}, AdamW${lora ? `, LoRA r=8 alpha 16 on ${loraTargets(cfg.family).join(', ')}, body frozen` : ', full fine-tuning'}; median of ${steps} steps after ${cfg.warmup} warm-up`,
    );
    // the PyTorch side's model, as JSON (bench/torch_train.py): the shape and the batch
    const shape = JSON.stringify({ ...cfg, steps: undefined, warmup: undefined, lora: undefined });
    const variants: { id: string; run: () => Result | string }[] = [
      { id: 'native-own', run: () => child(process.execPath, [...SELF, '--worker', 'native', '--config', key, '--steps', String(steps), ...(lora ? ['--lora'] : []), ...(args.includes('--profile') ? ['--profile'] : [])], { ...process.env, RLHFC_NATIVE_BLAS: 'own' }) },
      { id: 'native-openblas', run: () => child(process.execPath, [...SELF, '--worker', 'native', '--config', key, '--steps', String(steps), ...(lora ? ['--lora'] : [])], { ...process.env, RLHFC_NATIVE_BLAS: 'openblas' }) },
      { id: 'wasm', run: () => ((key === 'gpt2' || key === 'smollm2') && !only?.includes('wasm') ? `skipped for ${key} (minutes per step; --only wasm runs it)` : child(process.execPath, [...SELF, '--worker', 'wasm', '--config', key, '--steps', String(steps), ...(lora ? ['--lora'] : [])], process.env)) },
      {
        id: 'pytorch',
        run: () => {
          if (!py) return 'not available (no python with torch: set RLHFC_PYTHON or create .venv)';
          return child(py, [`${here}torch_train.py`, String(steps), shape, String(cfg.warmup), lora ? 'lora' : 'full'], process.env);
        },
      },
      {
        id: 'webgpu',
        run: () => {
          const a = probeAdapter();
          if (!a) return 'not available (Dawn found no WebGPU adapter)';
          if (a.software && !only?.includes('webgpu')) return `skipped: a software adapter (${a.description}; --only webgpu runs it)`;
          return child(process.execPath, [...SELF, '--worker', 'webgpu', '--config', key, '--steps', String(steps), ...(lora ? ['--lora'] : []), ...(args.includes('--profile') ? ['--profile'] : [])], process.env);
        },
      },
      ...(['fp32', 'bf16'] as const).map((prec) => ({
        id: prec === 'fp32' ? 'pytorch-cuda' : 'pytorch-cuda-bf16',
        run: (): Result | string => {
          if (!py) return 'not available (no python with torch)';
          if (spawnSync(py, ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'], { stdio: 'ignore' }).status !== 0) return 'not available (torch sees no CUDA device)';
          return child(py, [`${here}torch_train.py`, String(steps), shape, String(cfg.warmup), lora ? 'lora' : 'full', 'cuda', prec], process.env);
        },
      })),
    ];
    const results = new Map<string, Result>();
    for (const v of variants) {
      if (only && !only.includes(v.id)) continue;
      const r = v.run();
      if (typeof r === 'string') {
        console.log(`  ${v.id.padEnd(16)} ${r}`);
        continue;
      }
      // native-openblas that fell back to our GEMM (no libopenblas) is not an OpenBLAS result
      if (v.id === 'native-openblas' && !r.label.includes('OpenBLAS')) {
        console.log(`  ${v.id.padEnd(16)} not available (libopenblas.so.0 not found: ${r.label})`);
        continue;
      }
      results.set(v.id, r);
      console.log(`  ${v.id.padEnd(16)} ${fmt(r.ms)} ms/step (fastest ${r.min.toFixed(1)}), ${Math.round(r.tokensPerS).toString().padStart(6)} tokens/s, peak RSS ${Math.round(r.rssMB)} MB — ${r.label}${r.detail ? `, ${r.detail}` : ''}`);
    }
    const torch = results.get('pytorch');
    if (torch) {
      for (const [id, r] of results)
        if (!id.startsWith('pytorch')) console.log(`  ratio ${id} / pytorch: ${(r.ms / torch.ms).toFixed(2)}× step time (median), ${(r.rssMB / torch.rssMB).toFixed(2)}× peak RSS`);
    }
    const cuda = results.get('pytorch-cuda');
    const gpu = results.get('webgpu');
    if (cuda && gpu) console.log(`  ratio webgpu / pytorch-cuda (fp32 eager): ${(gpu.ms / cuda.ms).toFixed(2)}× step time (median)`);
    const bf16 = results.get('pytorch-cuda-bf16');
    if (bf16 && gpu) console.log(`  ratio webgpu / pytorch-cuda-bf16: ${(gpu.ms / bf16.ms).toFixed(2)}× step time (median)`);
  }
}

if (args.includes('--worker')) await worker(opt('--worker')!, opt('--config') ?? 'ref', Number(opt('--steps') ?? 20));
else await main();
