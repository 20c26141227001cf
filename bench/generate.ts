// Generation benchmark: tokens/s with and without the KV cache on the reference config
// (vocab 512, width 128, 2 layers, 4 heads, context 64), batch 8, prompts of 8 tokens, 48 new tokens,
// timed after one identical warm-up run.
// Usage: npx tsx bench/generate.ts [native|wasm|cpu ...] (default: native and wasm)
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../runtime/tensor-backend.ts';
import { generate } from '../runtime/model/decode.ts';
import { GPT } from '../runtime/model/gpt.ts';
import { Rng } from '../runtime/rng.ts';

const cfg = { vocabSize: 512, context: 64, width: 128, layers: 2, heads: 4, dropout: 0 };
const B = 8;
const NEW = 48;

const rates = new Map<string, number>();
for (const name of process.argv.slice(2).length ? process.argv.slice(2) : ['native', 'wasm']) {
  let info;
  try {
    info = await initBackend(name);
  } catch (e) {
    console.log(`${name}: not available (${(e as Error).message.split('\n')[0]})`);
    continue;
  }
  const model = new GPT(cfg, { seed: 1 });
  const rng = new Rng(3);
  const prompts = Array.from({ length: B }, () => Array.from({ length: 8 }, () => rng.int(cfg.vocabSize)));
  // eos outside the vocabulary: every row generates the full NEW tokens
  const opts = { maxNewTokens: NEW, eosId: cfg.vocabSize, padId: 0, temperature: 1, seed: 4 };
  for (const useCache of [true, false]) {
    generate(model, prompts, { ...opts, useCache }); // warm-up: one full run (buffer pools, JIT)
    const t0 = performance.now();
    const r = generate(model, prompts, { ...opts, useCache });
    const ms = performance.now() - t0;
    const n = r.tokens.reduce((s, t) => s + t.length, 0);
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
