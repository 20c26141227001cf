// The stages end to end on a Llama-family model, through the same path as `rlhfc run`: a tiny Qwen2-layout
// folder (GQA, q/k/v biases, tied head) written by rlhfc with its own byte-level BPE tokenizer files
// (rlhfc_tokenizer.json + tokenizer.json), opened with load("./qwen"), goes through LoRA SFT (PEFT names)
// → reward → DPO, GRPO and RLOO against the reward model, PPO with a value head, KTO, generate and eval;
// a fresh `llama { }` pretrains. A LoRA target of another family is refused at compile time.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../runtime/model/decode.ts';
import { compileFile } from '../../compiler/compile.ts';
import { fileHash } from '../../compiler/check/files.ts';
import { readSafetensors, writeSafetensors } from '../../runtime/safetensors.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { runPlan } from '../../runtime/runner.ts';
import { ArtifactStore } from '../../runtime/store.ts';
import { loadCorpus } from '../../runtime/sources/dataset-corpus.ts';
import { BpeTokenizer } from '../../runtime/tokenizers/index.ts';
import { Llama } from '../../runtime/model/llama.ts';
import { fromCheckpoint, toCheckpoint } from '../../runtime/model/io.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlhfc-llama-stages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SPEC = join(dir, 'spec.rlhf');

const LORA = 'lora { r: 4  alpha: 8  dropout: 0  targets: ["q_proj", "v_proj", "down_proj"] }';
const spec = `seed = 3
dataset few    = corpus("sentiment") { kind: pairs  limit: 6  prompt_words: 3  split { validation: 0 } }
dataset prefs  = corpus("sentiment") { kind: preferences  limit: 48  split { validation: 0.2 } }
dataset thumbs = corpus("sentiment") { kind: unpaired  prompt_words: 3  limit: 48  split { validation: 0.2 } }
dataset starts = corpus("sentiment") { kind: prompts  prompt_words: 3  limit: 32  split { validation: 0.25 } }
dataset text   = corpus("sentiment") { kind: text  limit: 40 }
tokenizer tb = bpe(text) { vocab_size: 300 }
model q = load("./qwen")
model fresh = llama { family: qwen3  layers: 1  heads: 4  kv_heads: 2  width: 32  context: 48 }

stage pre: pretrain { model: fresh  tokenizer: tb  data: text  max_steps: 6  batch_size: 4  log_every: 3  optimizer { lr: 3e-3 } }
stage tune: sft {
  model: q  data: few  template: "{prompt}{response}"  max_seq_length: 24
  max_steps: 60  batch_size: 6  log_every: 10
  lora { r: 8  alpha: 16  dropout: 0  targets: ["all-linear"] }
  optimizer { lr: 2e-2 }
}
stage rm: reward { model: q  data: prefs  max_steps: 6  batch_size: 8  log_every: 3  max_seq_length: 40  optimizer { lr: 3e-3 } }
stage pref: dpo { model: tune.model  data: prefs  max_steps: 4  batch_size: 8  log_every: 2  max_seq_length: 40  max_prompt_length: 8  ${LORA} }
stage thumbs_kto: kto { model: tune.model  data: thumbs  max_steps: 4  batch_size: 8  log_every: 2  max_seq_length: 40  max_prompt_length: 8 }
stage gr: grpo {
  policy: tune.model  rewards: [rm.model]  prompts: starts
  steps: 2  batch_size: 8  num_generations: 4  mini_batch_size: 8
  generation { max_new_tokens: 6 }
  ${LORA}
}
stage loo: rloo { policy: tune.model  rewards: [rm.model]  prompts: starts  steps: 2  batch_size: 8  num_generations: 4  mini_batch_size: 8  generation { max_new_tokens: 6 } }
stage rl: ppo { policy: tune.model  reward: rm.model  prompts: starts  steps: 2  batch_size: 8  mini_batch_size: 4  ppo_epochs: 1  generation { max_new_tokens: 6 } }
stage gen: generate { model: pref.model  prompts: starts  generation { max_new_tokens: 6 } }
stage cmp: eval { models: [tune.model, pref.model, gr.model]  reference: tune.model  prompts: starts  judge: rm.model  max_prompts: 8  generation { max_new_tokens: 6 } }
`;

describe('stages on a Llama-family (Qwen2-layout) folder', () => {
  beforeAll(async () => {
    await initBackend('auto');
    const texts = (loadCorpus('sentiment', { kind: 'text', promptWords: 3, seed: 0 }) as { text: string }[]).map((r) => r.text);
    const tok = BpeTokenizer.train(texts, { vocabSize: 320 });
    const m = new Llama(
      { family: 'qwen2', vocabSize: tok.vocabSize, context: 64, width: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediate: 48, rmsNormEps: 1e-6, rope: { type: 'default', theta: 10000 }, tie: true, qkvBias: true, oBias: false, mlpBias: false, qkNorm: false, dropout: 0 },
      { seed: 1 },
    );
    await toCheckpoint(join(dir, 'qwen'), m, { tokenizer: tok });
    m.dispose();
    writeFileSync(SPEC, spec);
  }, 120_000);

  it('runs pretrain (llama { }), LoRA SFT → reward → DPO, KTO, GRPO, RLOO, PPO, generate and eval', async () => {
    const plan = compileFile(SPEC).plan!;
    expect(plan).toBeDefined();
    await runPlan(plan, { specPath: SPEC, storeDir: join(dir, 'store'), write: () => {}, tty: false });
    const store = new ArtifactStore(join(dir, 'store'));
    const out = (stage: string) => store.nodeDir(plan.nodes.find((n) => n.id === `stage:${stage}`)!.hash);
    const metrics = (stage: string) => store.record(plan.nodes.find((n) => n.id === `stage:${stage}`)!.hash)!.metrics as Record<string, number>;
    // SFT with LoRA on a saved folder keeps the adapter alone, in PEFT layout with the Llama-family names
    const adapter = JSON.parse(readFileSync(join(out('tune'), 'model', 'adapter_config.json'), 'utf8'));
    expect(adapter.target_modules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']); // all-linear, written out
    expect(adapter.fan_in_fan_out).toBe(false);
    const losses = readFileSync(join(out('tune'), 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'loss' in l).map((l) => l.loss as number);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.3); // the adapters learn (a random tiny base learns slowly)
    // the reward model is a Qwen2ForSequenceClassification folder; the fresh model saved as Qwen3
    const rmCfg = JSON.parse(readFileSync(join(out('rm'), 'model', 'config.json'), 'utf8'));
    expect(rmCfg.architectures).toEqual(['Qwen2ForSequenceClassification']);
    expect(JSON.parse(readFileSync(join(out('pre'), 'model', 'config.json'), 'utf8')).architectures).toEqual(['Qwen3ForCausalLM']);
    for (const s of ['pref', 'thumbs_kto', 'gr', 'loo', 'rl']) {
      const { model } = await fromCheckpoint(join(out(s), 'model'));
      expect(model.family, s).toBe(s === 'pre' ? 'qwen3' : 'qwen2');
      model.dispose();
    }
    expect(Object.keys(metrics('cmp')).length).toBeGreaterThan(0);
  }, 600_000);

  it('samples the same with the KV cache (in place on the native backend, with or without GQA; grown by concatenation elsewhere) as without', async () => {
    for (const kvHeads of [4, 2]) {
      const m = new Llama(
        { family: 'llama', vocabSize: 50, context: 32, width: 32, layers: 2, heads: 4, kvHeads, headDim: 8, intermediate: 48, rmsNormEps: 1e-6, rope: { type: 'default', theta: 10000 }, tie: false, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0 },
        { seed: 2 },
      );
      for (const v of m.weights.values()) tf.tidy(() => v.assign(tf.mul(v, 10)));
      const slots = m.kvSlots(2, 8);
      expect(slots !== undefined).toBe(tf.getBackend() === 'native');
      if (slots) expect(slots.k[0].shape).toEqual([2, kvHeads, 8, 8]);
      if (slots) tf.dispose([...slots.k, ...slots.v]);
      const count = tf.memory().numTensors;
      const o = { maxNewTokens: 12, temperature: 0, eosId: 50, padId: 0 };
      const prompts = [[1, 2, 3], [4, 5, 6, 7, 8]];
      const a = await generate(m, prompts, { ...o, useCache: true });
      const b = await generate(m, prompts, { ...o, useCache: false });
      expect(a.tokens).toEqual(b.tokens);
      expect(new Set(a.tokens.flat()).size).toBeGreaterThan(2);
      expect(tf.memory().numTensors).toBe(count);
      m.dispose();
    }
  });

  it('keys the plan on every shard of a sharded folder', async () => {
    const st = await readSafetensors(join(dir, 'qwen', 'model.safetensors'));
    const names = [...st.tensors.keys()];
    const shard = join(dir, 'sharded');
    mkdirSync(shard);
    for (const f of ['config.json', 'tokenizer.json', 'rlhfc_tokenizer.json']) if (existsSync(join(dir, 'qwen', f))) copyFileSync(join(dir, 'qwen', f), join(shard, f));
    const half = Math.floor(names.length / 2);
    const write = (k: number, part: string[]) => writeSafetensors(join(shard, `model-0000${k}-of-00002.safetensors`), part.map((n) => [n, st.tensors.get(n)!] as const));
    await write(1, names.slice(0, half));
    await write(2, names.slice(half));
    writeFileSync(join(shard, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [n, `model-0000${i < half ? 1 : 2}-of-00002.safetensors`])) }));
    const before = fileHash(shard);
    const last = names[names.length - 1];
    const t = st.tensors.get(last)!;
    (t.data as Float32Array)[0] += 1;
    await write(2, names.slice(half));
    expect(fileHash(shard)).not.toBe(before);
  });

  it('refuses a LoRA target of another family at compile time, listing the valid ones', () => {
    const bad = spec.replace('targets: ["q_proj", "v_proj", "down_proj"]', 'targets: ["c_attn"]');
    writeFileSync(join(dir, 'bad.rlhf'), bad);
    const r = compileFile(join(dir, 'bad.rlhf'));
    const msgs = r.diagnostics.map((d) => d.message);
    expect(msgs.some((m) => /lora targets "c_attn" is not a projection of the qwen2 model; valid: all-linear, q_proj/.test(m))).toBe(true);
  });
});
