// Training-step benchmark on the reference config (vocab 512, width 128, 2 layers, 4 heads, context 64,
// batch 8, AdamW). Usage: npx tsx bench/train.ts [wasm|cpu ...] [--steps N] [--lora]
// --lora: LoRA r=8 on every projection (body frozen), as in SFT/DPO/PPO.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/backend.ts';
import { GPT } from '../runtime/model/gpt.ts';
import { AdamW, clipByGlobalNorm } from '../runtime/optim.ts';
import { Rng } from '../runtime/rng.ts';
import { collate, type Row } from '../runtime/train/examples.ts';

const args = process.argv.slice(2);
const si = args.indexOf('--steps');
const steps = si >= 0 ? Number(args[si + 1]) : 20;
const backends = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--steps');
const lora = args.includes('--lora');
const cfg = { vocabSize: 512, context: 64, width: 128, layers: 2, heads: 4, dropout: 0 };
const B = 8;
const medians: { name: string; ms: number }[] = [];

for (const name of backends.length ? backends : ['wasm', 'cpu']) {
  const info = await initBackend(name);
  const model = new GPT(cfg, { seed: 1 });
  if (lora) model.addLora({ r: 8, alpha: 16, targets: ['c_attn', 'c_proj', 'c_fc'] });
  const params = model.trainable();
  const opt = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
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
  for (let s = 0; s < steps + warmup; s++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => model.lmLoss(batch, { training: true }), vars);
    const named = new Map(names.map((n, i) => [n, grads[vars[i].name]]));
    clipByGlobalNorm(named, 1);
    opt.apply(named);
    value.dataSync();
    value.dispose();
    for (const g of named.values()) g.dispose();
    if (s >= warmup) times.push(performance.now() - t0);
    if (process.env.DEBUG_TENSORS) console.log(s, tf.memory().numTensors);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`${info.banner}${lora ? ', LoRA' : ''}: ${med.toFixed(1)} ms/step (median of ${times.length}; min ${times[0].toFixed(1)}), ${Math.round((B * cfg.context * 1000) / med)} tokens/s, ${tf.memory().numTensors} live tensors (weights + AdamW moments)`);
  medians.push({ name: info.name, ms: med });
  opt.dispose();
  model.dispose();
}

// The same model and step in PyTorch, when python3 with torch is installed (Debian: python3-torch).
const { spawnSync } = await import('node:child_process');
const py = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!py || lora) {
  console.log(lora ? 'pytorch: not compared for --lora' : 'pytorch: not available (python3 with torch not found; on Debian: apt-get install python3-torch); no comparison');
} else {
  const r = spawnSync(py, [new URL('./torch_train.py', import.meta.url).pathname, String(steps)], { encoding: 'utf8' });
  if (r.status !== 0) console.log(`pytorch: failed: ${r.stderr.trim().split('\n').pop()}`);
  else {
    const t = JSON.parse(r.stdout) as { backend: string; ms_per_step: number; tokens_per_s: number };
    console.log(`${t.backend}: ${t.ms_per_step.toFixed(1)} ms/step, ${Math.round(t.tokens_per_s)} tokens/s`);
    for (const m of medians) console.log(`ratio ${m.name} / pytorch: ${(m.ms / t.ms_per_step).toFixed(2)}×`);
  }
}
