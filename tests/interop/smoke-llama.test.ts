// A Llama-family spec exported with --smoke and run with the real libraries on CPU: a transformers-made
// Qwen2 folder with its own tokenizer.json and a ChatML chat template goes through LoRA SFT, reward, DPO,
// KTO, GRPO, PPO, generate and eval with `chat_template: true`; a fresh `llama { family: qwen3 }` and a
// fresh Mistral reward model are built from their configs. What the export wrote opens in rlhfc: the
// fresh models (their weights checked by name and shape against the config, which has the declared
// sizes), the DPO result and the reward model; the SFT adapter has PEFT's q_proj/v_proj default on
// nn.Linear layers.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeSmoke } from './python.ts';
import { makeTinyQwen } from './tiny-qwen.ts';
import { checkStages, exportSmoke, runSh } from './smoke-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-smoke-llama-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


const spec = `seed = 7
dataset few    = corpus("sentiment") { kind: pairs  limit: 16  prompt_words: 3 }
dataset prefs  = corpus("sentiment") { kind: preferences  limit: 16 }
dataset thumbs = corpus("sentiment") { kind: unpaired  prompt_words: 3  limit: 16 }
dataset starts = corpus("sentiment") { kind: prompts  prompt_words: 3  limit: 16 }
dataset text   = corpus("sentiment") { kind: text  limit: 32 }
tokenizer tb = bpe(text) { vocab_size: 300 }
model q = load("./qwen")
model fresh = llama { family: qwen3  layers: 1  heads: 4  kv_heads: 2  width: 32  context: 48 }
model judge_body = llama { family: mistral  layers: 1  heads: 2  width: 32  context: 48  tie: false }

stage pre: pretrain { model: fresh  tokenizer: tb  data: text  max_steps: 4  batch_size: 4 }
stage scorer: reward { model: judge_body  tokenizer: tb  data: prefs  max_steps: 2  batch_size: 4 }
stage tune: sft { model: q  data: few  chat_template: true  max_seq_length: 40  batch_size: 4  lora { r: 4  alpha: 8  dropout: 0 } }
stage rm: reward { model: q  data: prefs  max_seq_length: 40  batch_size: 4 }
stage pref: dpo { model: tune.model  data: prefs  chat_template: true  max_seq_length: 40  batch_size: 4 }
stage thumbs_kto: kto { model: tune.model  data: thumbs  chat_template: true  max_seq_length: 40  batch_size: 4 }
stage gr: grpo { policy: tune.model  rewards: [rm.model]  prompts: starts  chat_template: true  steps: 1  batch_size: 4  num_generations: 2  mini_batch_size: 4  generation { max_new_tokens: 6 } }
stage rl: ppo { policy: tune.model  reward: rm.model  prompts: starts  chat_template: true  steps: 1  batch_size: 4  mini_batch_size: 4  ppo_epochs: 1  generation { max_new_tokens: 6 } }
stage gen: generate { model: pref.model  prompts: starts  chat_template: true  generation { max_new_tokens: 6 } }
stage cmp: eval { models: [tune.model, pref.model]  reference: q  prompts: starts  judge: rm.model  chat_template: true  max_prompts: 4  generation { max_new_tokens: 6 } }
`;

describeSmoke('interop: a Llama-family spec with chat templates at smoke scale', () => {
  it('runs end to end; the fresh models and the adapter it saves open in rlhfc', { timeout: 900_000 }, async () => {
    const specDir = join(tmp, 'spec');
    mkdirSync(specDir, { recursive: true });
    makeTinyQwen(join(specDir, 'qwen'));
    writeFileSync(join(specDir, 'llama.rlhf'), spec);
    const out = join(tmp, 'project');
    const plan = exportSmoke(join(specDir, 'llama.rlhf'), out);
    const first = runSh(out);
    process.stderr.write(`smoke llama.rlhf: run.sh ${first.seconds.toFixed(0)} s\n`);
    expect(first.status, first.log.slice(-4000)).toBe(0);
    checkStages(plan, out);
    // what transformers built from the exported configs is the architecture rlhfc builds: rlhfc opens it,
    // checking every weight's name and shape against the config, and the config has the declared sizes
    const { initBackend } = await import('../../runtime/tensor-backend.ts');
    const { fromCheckpoint } = await import('../../runtime/model/io.ts');
    await initBackend('cpu');
    const pre = JSON.parse(readFileSync(join(out, 'outputs/pre/config.json'), 'utf8'));
    expect(pre).toMatchObject({ model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'], num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, hidden_size: 32, head_dim: 8, intermediate_size: 88, max_position_embeddings: 48, tie_word_embeddings: true, attention_bias: false });
    const scorer = JSON.parse(readFileSync(join(out, 'outputs/scorer/config.json'), 'utf8'));
    expect(scorer).toMatchObject({ model_type: 'mistral', architectures: ['MistralForSequenceClassification'], num_key_value_heads: 2, tie_word_embeddings: false, sliding_window: null });
    // (the SFT adapter names its base relative to the project folder, where run.sh runs, as PEFT resolves it)
    for (const stage of ['pre', 'scorer', 'pref', 'rm']) {
      const { model } = await fromCheckpoint(join(out, 'outputs', stage));
      expect(model.family, stage).toBe(stage === 'pre' ? 'qwen3' : stage === 'scorer' ? 'mistral' : 'qwen2');
      model.dispose();
    }
    const adapter = JSON.parse(readFileSync(join(out, 'outputs/tune/adapter_config.json'), 'utf8'));
    expect([...adapter.target_modules].sort()).toEqual(['q_proj', 'v_proj']);
    expect(adapter.fan_in_fan_out).toBe(false);
    // TRL's conversational tokenization warns when a prompt's ids are not the start of prompt + answer: none here
    expect(first.log).not.toMatch(/Mismatch between tokenized prompt/);
  });
});
