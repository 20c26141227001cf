// Training-step benchmark: ms/step and tokens/s per backend and for PyTorch on the same model, with
// ratios. Configs: `ref` (vocab 512, width 128, 2 layers, 4 heads, context 64, batch 8, AdamW) and
// `large` (width 256, 4 layers, context 128).
// Usage: npx tsx bench/train.ts [native|wasm|cpu ...] [--config ref|large|both] [--steps N] [--lora]
// Default: native and wasm (native skipped with its reason when not built), both configs.
// --lora: LoRA r=8 on every projection (body frozen), as in SFT/DPO/PPO (no PyTorch comparison).
// Reports the median over the timed steps (3 warm-up steps first) and the fastest step, as measured.
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/backend.ts';
import { GPT, type GPTConfig } from '../runtime/model/gpt.ts';
import { AdamW, clipByGlobalNorm } from '../runtime/optim.ts';
import { Rng } from '../runtime/rng.ts';
import { collate, type Row } from '../runtime/train/examples.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
const steps = Number(opt('--steps') ?? 20);
const which = opt('--config') ?? 'both';
const lora = args.includes('--lora');
const backends = args.filter((a, i) => !a.startsWith('--') && !['--steps', '--config'].includes(args[i - 1]));
const CONFIGS: Record<string, GPTConfig> = {
  ref: { vocabSize: 512, context: 64, width: 128, layers: 2, heads: 4, dropout: 0 },
  large: { vocabSize: 512, context: 128, width: 256, layers: 4, heads: 4, dropout: 0 },
};
const B = 8;
const fmt = (ms: number) => ms.toFixed(1).padStart(7);

interface Result {
  name: string;
  ms: number;
}

async function runTfjs(name: string, cfg: GPTConfig): Promise<Result | undefined> {
  let info;
  try {
    info = await initBackend(name);
  } catch (e) {
    console.log(`  ${name}: not available (${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
  const model = new GPT(cfg, { seed: 1 });
  if (lora) model.addLora({ r: 8, alpha: 16, targets: ['c_attn', 'c_proj', 'c_fc'] });
  const params = model.trainable();
  const adam = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(2);
  const rows: Row[] = Array.from({ length: B }, () => {
    const ids = Array.from({ length: cfg.context + 1 }, () => rng.int(cfg.vocabSize));
    return { ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) };
  });
  const batch = collate(rows, 0);
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const times: number[] = [];
  const warmup = 3;
  let live = 0;
  for (let s = 0; s < steps + warmup; s++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => model.lmLoss(batch, { training: true }), vars);
    const named = new Map(names.map((n, i) => [n, grads[vars[i].name]]));
    clipByGlobalNorm(named, 1);
    adam.apply(named);
    value.dataSync();
    value.dispose();
    for (const g of named.values()) g.dispose();
    if (s >= warmup) times.push(performance.now() - t0);
    if (s === warmup) live = tf.memory().numTensors;
    else if (s > warmup && tf.memory().numTensors !== live) throw new Error(`tensor leak: ${live} → ${tf.memory().numTensors} live tensors`);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(
    `  ${info.banner}${lora ? ', LoRA' : ''}: ${fmt(med)} ms/step (median of ${times.length}; fastest ${times[0].toFixed(1)}), ${Math.round((B * cfg.context * 1000) / med)} tokens/s, ${live} live tensors (flat)`,
  );
  adam.dispose();
  model.dispose();
  return { name: info.name, ms: med };
}

// The same model and step in PyTorch: the virtualenv's (requirements.txt, what the interop tests run;
// $RLHFC_PYTHON or .venv/bin/python) and the system's (Debian: python3-torch), each when it has torch.
const venvPython = process.env.RLHFC_PYTHON || new URL('../.venv/bin/python', import.meta.url).pathname;
const torchVersion = (p: string) => {
  const r = spawnSync(p, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const pythons = [
  { path: venvPython, where: 'venv' },
  { path: '/usr/bin/python3', where: 'system' },
]
  .map((p) => ({ ...p, version: torchVersion(p.path) }))
  .filter((p): p is { path: string; where: string; version: string } => p.version !== undefined);
const py = pythons.length > 0;

function runTorch(cfg: GPTConfig, env: NodeJS.ProcessEnv, label: string): Result[] {
  return pythons.flatMap((p) => {
    const r = runTorchWith(p.path, cfg, env, `torch ${p.version} (${p.where}), ${label}`);
    return r ? [r] : [];
  });
}

function runTorchWith(python: string, cfg: GPTConfig, env: NodeJS.ProcessEnv, label: string): Result | undefined {
  const shape = [cfg.vocabSize, cfg.context, cfg.width, cfg.layers, cfg.heads, B].map(String);
  const r = spawnSync(python, [new URL('./torch_train.py', import.meta.url).pathname, String(steps), ...shape], { encoding: 'utf8', env });
  if (r.status !== 0) {
    console.log(`  pytorch (${label}): failed: ${r.stderr.trim().split('\n').pop()}`);
    return undefined;
  }
  const t = JSON.parse(r.stdout) as { backend: string; ms_per_step: number; min_ms: number; tokens_per_s: number };
  console.log(`  ${t.backend}, ${label}: ${fmt(t.ms_per_step)} ms/step (median of ${steps}; fastest ${t.min_ms.toFixed(1)}), ${Math.round(t.tokens_per_s)} tokens/s`);
  return { name: `pytorch (${label})`, ms: t.ms_per_step };
}

for (const key of which === 'both' ? ['ref', 'large'] : [which]) {
  const cfg = CONFIGS[key];
  if (!cfg) throw new Error(`unknown --config ${key}: ref, large or both`);
  console.log(`${key} config: vocab ${cfg.vocabSize}, width ${cfg.width}, ${cfg.layers} layers, ${cfg.heads} heads, context ${cfg.context}, batch ${B}, AdamW${lora ? ', LoRA r=8' : ''}`);
  const results: Result[] = [];
  for (const name of backends.length ? backends : ['native', 'wasm']) {
    const r = await runTfjs(name, cfg);
    if (r) results.push(r);
  }
  const torch: Result[] = [];
  if (lora) console.log('  pytorch: not compared for --lora');
  else if (!py) console.log('  pytorch: not available (neither .venv/bin/python (pip install -r requirements.txt) nor python3 has torch); no comparison');
  else {
    // PyTorch as the environment runs it, and with the OpenBLAS kernels the native backend picked
    // (the native backend sets OPENBLAS_CORETYPE for its own load only; see runtime/native/addon.ts).
    const inherited = process.env.OPENBLAS_CORETYPE;
    torch.push(...runTorch(cfg, process.env, inherited ? `OPENBLAS_CORETYPE=${inherited} (environment)` : 'default OpenBLAS'));
    const { nativeInfo } = await import('../runtime/native/backend.ts');
    const core = results.some((r) => r.name === 'native') ? nativeInfo()?.blasCore : undefined;
    if (core && core !== inherited) {
      torch.push(...runTorch(cfg, { ...process.env, OPENBLAS_CORETYPE: core }, `OPENBLAS_CORETYPE=${core} (as native)`));
    }
  }
  const best = torch.sort((a, b) => a.ms - b.ms)[0];
  for (const r of results) {
    if (best) console.log(`  ratio ${r.name} / fastest pytorch: ${(r.ms / best.ms).toFixed(2)}× (${best.name})`);
  }
  const n = results.find((r) => r.name === 'native');
  const w = results.find((r) => r.name === 'wasm');
  if (n && w) console.log(`  native is ${(w.ms / n.ms).toFixed(1)}× faster than wasm`);
}
