// Generation benchmark: tokens/s with and without the KV cache on the reference config
// (vocab 512, width 128, 2 layers, 4 heads, context 64; `--config gpt2`: GPT-2 small, context 256;
// `--config smollm2`: SmolLM2-135M's shape, a Llama with 3 KV heads, bench/models.ts), batch 8,
// prompts of 8 tokens (32 for smollm2), 48 new tokens (64 for smollm2), sampling at temperature 1 (no
// top-k/top-p): the median of REPS timed runs (7; 3 for gpt2 and smollm2) after one identical warm-up
// run — beside Hugging Face generate() with the KV cache on PyTorch, same model (GPT2LMHeadModel or
// LlamaForCausalLM), shape and settings (bench/hf_generate.py; python from RLHFC_PYTHON, ./.venv or python3).
// The native backend runs on our own GEMM, or OpenBLAS with RLHFC_NATIVE_BLAS=openblas.
// Usage: npx tsx bench/generate.ts [native|wasm|cpu ...] [--config ref|gpt2|smollm2] [--no-uncached]
// (default: native and wasm; --no-uncached skips the runs without the KV cache)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/tensor-backend.ts';
import { generate } from '../runtime/model/decode.ts';
import { Rng } from '../runtime/rng.ts';
import { describeShape, makeModel, SHAPES } from './models.ts';

const argv = process.argv.slice(2);
const key = argv.includes('--config') ? argv[argv.indexOf('--config') + 1] : 'ref';
const CONFIGS = { ref: SHAPES.ref, gpt2: SHAPES.gpt2, smollm2: SHAPES.smollm2 };
const cfg = CONFIGS[key as keyof typeof CONFIGS];
if (!cfg) throw new Error(`unknown --config ${key}: ${Object.keys(CONFIGS).join(', ')}`);
const B = 8;
const PROMPT = key === 'smollm2' ? 32 : 8;
const NEW = key === 'smollm2' ? 64 : 48;
const REPS = key === 'ref' ? 7 : 3;
const names = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--config');
console.log(`${key} config (${describeShape(cfg)}); batch ${B}, prompts of ${PROMPT} tokens, ${NEW} new tokens, temperature 1; median of ${REPS} runs`);

const rates = new Map<string, number>();
for (const name of names.length ? names : ['native', 'wasm']) {
  let info;
  try {
    info = await initBackend(name);
  } catch (e) {
    console.log(`${name}: not available (${(e as Error).message.split('\n')[0]})`);
    continue;
  }
  const model = makeModel(cfg);
  const rng = new Rng(3);
  const prompts = Array.from({ length: B }, () => Array.from({ length: PROMPT }, () => rng.int(cfg.vocabSize)));
  // eos outside the vocabulary: every row generates the full NEW tokens
  const opts = { maxNewTokens: NEW, eosId: cfg.vocabSize, padId: 0, temperature: 1, seed: 4 };
  for (const useCache of argv.includes('--no-uncached') ? [true] : [true, false]) {
    await generate(model, prompts, { ...opts, useCache }); // warm-up: one full run (buffer pools, JIT)
    const times: number[] = [];
    let n = 0;
    for (let rep = 0; rep < REPS; rep++) {
      const t0 = performance.now();
      const r = await generate(model, prompts, { ...opts, useCache });
      times.push(performance.now() - t0);
      n = r.tokens.reduce((s, t) => s + t.length, 0);
    }
    const ms = times.sort((a, b) => a - b)[REPS >> 1];
    console.log(`${info.banner}, ${useCache ? 'KV cache   ' : 'no cache   '}: ${Math.round((n * 1000) / ms)} tokens/s (${n} tokens in ${ms.toFixed(0)} ms)`);
    rates.set(`${info.name} ${useCache}`, (n * 1000) / ms);
  }
  console.log(`  live tensors after: ${tf.memory().numTensors} (the model's ${model.weights.size} weights)`);
  model.dispose();
}
for (const cache of [true, false]) {
  const n = rates.get(`native ${cache}`);
  const w = rates.get(`wasm ${cache}`);
  if (n && w) console.log(`${cache ? 'KV cache' : 'no cache'}: native / wasm = ${(n / w).toFixed(1)}× tokens/s`);
}

// Hugging Face generate() with the KV cache, same shape and settings.
const root = fileURLToPath(new URL('..', import.meta.url));
const py = [process.env.RLHFC_PYTHON, `${root}.venv/bin/python`, 'python3']
  .filter((p): p is string => !!p && (p === 'python3' || existsSync(p)))
  .find((p) => spawnSync(p, ['-c', 'import torch, transformers'], { stdio: 'ignore' }).status === 0);
if (!py) console.log('Hugging Face generate(): not available (no python with torch and transformers: set RLHFC_PYTHON or create .venv)');
else {
  const run = [B, PROMPT, NEW, REPS].map(String);
  const r = spawnSync(py, [fileURLToPath(new URL('./hf_generate.py', import.meta.url)), JSON.stringify(cfg), ...run], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) console.log(`Hugging Face generate(): failed: ${r.stderr.trim().split('\n').pop()}`);
  else {
    const h = JSON.parse(line) as { label: string; tokensPerS: number; tokens: number; ms: number };
    console.log(`${h.label}, KV cache: ${Math.round(h.tokensPerS)} tokens/s (${h.tokens} tokens in ${h.ms.toFixed(0)} ms)`);
    for (const [k, v] of rates) if (k.endsWith(' true')) console.log(`KV cache: ${k.replace(' true', '')} / Hugging Face generate() = ${(v / h.tokensPerS).toFixed(2)}× tokens/s`);
  }
}
