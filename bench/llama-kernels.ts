// Llama-family native kernels, before/after in one run: a LoRA training step (r=8, alpha 16, on
// q/k/v/o/gate/up/down) of a SmolLM2-135M-shaped Llama (vocab 49,152, hidden 576, 9 heads, 3 KV heads,
// head_dim 64, intermediate 1,536, tied; fewer layers by default) and greedy `generate()` with the KV
// cache, each on the native backend in its own process, once from this checkout and once from
// another checkout of rlhfc (`--before DIR`, e.g. the commit before the kernels, with its own built
// addon). Prints the median step time, kernel calls per step (tf.profile of one step), peak RSS and
// sampling tokens/s for each, and the ratios.
// Usage: npx tsx bench/llama-kernels.ts [--before DIR] [--layers 4] [--batch 2] [--seq 128]
//          [--steps 5] [--warmup 2] [--prompt 16] [--new 32] [--rows 4] [--repeat 1] [--profile] [--torch]
// --repeat N: N rounds of before, after (interleaved, so a busy machine's load drifts over both alike);
// the ratios are of the medians over the rounds.
// --profile: also the kernels of the profiled step by time (calls, ms; tf.profile's per-kernel wall time).
// --torch: also the same LoRA step in PyTorch (bench/torch_train.py, as bench/train.ts runs it: transformers'
// LlamaForCausalLM + PEFT, .venv's python) after each round, with torch's default threads and with one (on a busy machine
// OpenMP's threads can be several times slower), and the ratios of this checkout's medians to the
// faster PyTorch configuration's.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SHAPES } from './models.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : def);
const num = (name: string, def: number) => Number(opt(name, String(def)));

interface Result {
  root: string;
  stepMs: number;
  minMs: number;
  kernels: number;
  rssMB: number;
  genTokensPerS: number;
  genMs: number;
  inPlaceCache: boolean;
  liveTensors: number;
  top?: string;
}

/** Worker: imports the runtime from `root`, measures, prints one JSON line. */
async function worker(root: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import(`${root}/runtime/tensor-backend.ts`);
  const { Llama } = await import(`${root}/runtime/model/llama.ts`);
  const { AdamW, clipByGlobalNorm } = await import(`${root}/runtime/optim.ts`);
  const { generate } = await import(`${root}/runtime/model/decode.ts`);
  const { collate } = await import(`${root}/runtime/train/examples.ts`);
  const { Rng } = await import(`${root}/runtime/rng.ts`);
  const info = await initBackend('native');
  if (info.name !== 'native') throw new Error(`native backend not available in ${root}`);
  const layers = num('--layers', 4);
  const B = num('--batch', 2);
  const T = num('--seq', 128);
  const config = {
    family: 'llama', vocabSize: 49152, context: 2048, width: 576, layers, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, rmsNormEps: 1e-5,
    rope: { type: 'default', theta: 100000 }, tie: true, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0,
  };
  const model = new Llama(config, { seed: 1 });
  model.addLora({ r: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
  const params = model.trainable() as Map<string, import('@tensorflow/tfjs').Variable>;
  const adam = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(2);
  const rows = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T + 1 }, () => rng.int(config.vocabSize));
    return { ids, loss: ids.map((_: number, i: number) => (i > 0 ? 1 : 0)) };
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
  const warmup = num('--warmup', 2);
  const steps = num('--steps', 5);
  const times: number[] = [];
  let live = 0;
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    await step();
    if (s >= warmup) times.push(performance.now() - t0);
    if (s === warmup) live = tf.memory().numTensors;
    else if (s > warmup && tf.memory().numTensors !== live) throw new Error(`tensor leak: ${live} → ${tf.memory().numTensors}`);
  }
  const prof = await tf.profile(step);
  times.sort((a, b) => a - b);
  // sampling: greedy, KV cache, `rows` prompts of `prompt` tokens, `new` new tokens each
  const prompts = Array.from({ length: num('--rows', 4) }, () => Array.from({ length: num('--prompt', 16) }, () => rng.int(config.vocabSize)));
  const maxNewTokens = num('--new', 32);
  const slots = model.kvSlots(prompts.length, 8);
  const inPlaceCache = slots !== undefined;
  if (slots) tf.dispose([...slots.k, ...slots.v]);
  await generate(model, prompts, { maxNewTokens: 4, temperature: 0, eosId: config.vocabSize, padId: 0 }); // warm-up
  const g0 = performance.now();
  const g = await generate(model, prompts, { maxNewTokens, temperature: 0, eosId: config.vocabSize, padId: 0 });
  const genMs = performance.now() - g0;
  const produced = g.tokens.reduce((a: number, t: number[]) => a + t.length, 0);
  const r: Result = {
    root,
    stepMs: times[Math.floor(times.length / 2)],
    minMs: times[0],
    kernels: prof.kernels.length,
    rssMB: process.resourceUsage().maxRSS / 1024,
    genTokensPerS: (produced * 1000) / genMs,
    genMs,
    inPlaceCache,
    liveTensors: live,
  };
  if (args.includes('--profile')) {
    const by = new Map<string, { calls: number; ms: number }>();
    for (const k of prof.kernels) {
      const e = by.get(k.name) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      by.set(k.name, e);
    }
    r.top = [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14).map(([n, e]) => `${n} ${e.calls}× ${e.ms.toFixed(1)} ms`).join(', ');
  }
  console.log(JSON.stringify(r));
}

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const before = args.indexOf('--before') >= 0 ? opt('--before', '') : undefined;
  const pass = args.filter((a, i) => a !== '--before' && args[i - 1] !== '--before');
  console.log(
    `Llama LoRA step (SmolLM2-135M shape, ${num('--layers', 4)} layers, batch ${num('--batch', 2)} × ${num('--seq', 128)}) and greedy generate() (${num('--rows', 4)} rows, ${num('--prompt', 16)}-token prompts, ${num('--new', 32)} new tokens), native backend; each in its own process, one after the other`,
  );
  const runs = [...(before ? [['before', before]] : []), ['after', here]];
  const results = new Map<string, Result[]>(runs.map(([label]) => [label, []]));
  const torch: { stepMs: number; minMs: number; rssMB: number; torch: string; threads: number | 'default' }[] = [];
  for (let round = 0; round < num('--repeat', 1); round++) {
    for (const [label, root] of runs) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--worker', root, ...pass], { encoding: 'utf8', maxBuffer: 1 << 24, cwd: here });
      const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) throw new Error(`${label} (${root}) failed:\n${r.stderr}`);
      const x = JSON.parse(line) as Result;
      results.get(label)!.push(x);
      console.log(
        `${label.padEnd(7)} ${x.stepMs.toFixed(0).padStart(6)} ms/step (fastest ${x.minMs.toFixed(0)}), ${x.kernels} kernels/step, peak RSS ${x.rssMB.toFixed(0)} MB, ${x.liveTensors} live tensors (flat); generate: ${x.genTokensPerS.toFixed(1)} tokens/s (${x.genMs.toFixed(0)} ms, ${x.inPlaceCache ? 'in-place' : 'concatenating'} KV cache)  [${root}]`,
      );
      if (x.top) console.log(`        profiled step: ${x.top}`);
    }
    if (args.includes('--torch')) {
      for (const threads of [0, 1]) {
        // bench/torch_train.py's shape: SmolLM2-135M's with this run's layers, batch and sequence length
        const shape = JSON.stringify({ ...SHAPES.smollm2, layers: num('--layers', 4), batch: num('--batch', 2), context: num('--seq', 128) });
        const env = threads ? { ...process.env, RLHFC_TORCH_THREADS: String(threads) } : process.env;
        const r = spawnSync(`${here}/.venv/bin/python`, [`${here}/bench/torch_train.py`, String(num('--steps', 5)), shape, String(num('--warmup', 2)), 'lora'], { encoding: 'utf8', maxBuffer: 1 << 24, cwd: here, env });
        const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
        if (r.status !== 0 || !line) throw new Error(`PyTorch reference failed:\n${r.stderr}`);
        const out = JSON.parse(line) as { ms: number; min: number; rssMB: number; label: string };
        const x = { stepMs: out.ms, minMs: out.min, rssMB: out.rssMB, torch: out.label, threads: threads || ('default' as const) };
        torch.push(x);
        console.log(`pytorch ${x.stepMs.toFixed(0).padStart(6)} ms/step (fastest ${x.minMs.toFixed(0)}), peak RSS ${x.rssMB.toFixed(0)} MB  [${x.torch}; threads: ${x.threads}]`);
      }
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  if (torch.length > 0) {
    const ours = results.get('after')!;
    const byThreads = [...new Set(torch.map((x) => x.threads))].map((n) => torch.filter((x) => x.threads === n));
    const best = byThreads.sort((a, b) => med(a.map((x) => x.stepMs)) - med(b.map((x) => x.stepMs)))[0];
    console.log(
      `after/pytorch (${best[0].threads} thread(s), its faster setting; medians of ${best.length} round(s)): step time ${(med(ours.map((r) => r.stepMs)) / med(best.map((r) => r.stepMs))).toFixed(2)}×, peak RSS ${(med(ours.map((r) => r.rssMB)) / med(best.map((r) => r.rssMB))).toFixed(2)}× (target ≤ 0.8× both)`,
    );
  }
  if (before) {
    const median = (label: string, f: (r: Result) => number) => {
      const v = results.get(label)!.map(f).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    const ratio = (f: (r: Result) => number) => (median('after', f) / median('before', f)).toFixed(2);
    console.log(
      `after/before (medians of ${num('--repeat', 1)} round(s)): step time ${ratio((r) => r.stepMs)}×, kernels ${ratio((r) => r.kernels)}×, peak RSS ${ratio((r) => r.rssMB)}×, sampling speed ${ratio((r) => r.genTokensPerS)}×`,
    );
  }
}

if (args[0] === '--worker') await worker(args[1]);
else await main();
