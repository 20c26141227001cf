// A spec end to end on a model folder made by transformers, as a user brings one: a tiny random
// Qwen2ForCausalLM saved by `save_pretrained`, with its own tokenizer.json trained by the `tokenizers`
// library on the sentiment corpus (configured as Qwen2's: NFC, its split pattern, byte level; special
// tokens <|endoftext|>, <|im_start|>, <|im_end|>) and a ChatML chat template. LoRA SFT with the chat
// template (the default targets: PEFT's for qwen2, q_proj and v_proj) → reward → DPO and GRPO with the
// chat template, through `rlhfc run`'s path at smoke size. What it saves opens in transformers and PEFT
// (AutoPeftModelForCausalLM, AutoModelForCausalLM, AutoModelForSequenceClassification) with rlhfc's
// logits and scores within 1e-4, and each saved tokenizer folder opens with AutoTokenizer with
// rlhfc's ids, chat template included.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { runPlan } from '../../runtime/runner.ts';
import { ArtifactStore } from '../../runtime/store.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { fromCheckpoint } from '../../runtime/model/io.ts';
import { encodeChatPrompt } from '../../runtime/train/examples.ts';
import type { Plan } from '../../core/plan-types.ts';
import { describeInterop, pyJson } from './python.ts';
import { makeTinyQwen } from './tiny-qwen.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlhfc-llama-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SPEC = join(dir, 'spec.rlhf');


const spec = `seed = 5
dataset few    = corpus("sentiment") { kind: pairs  limit: 8  prompt_words: 3  split { validation: 0 } }
dataset prefs  = corpus("sentiment") { kind: preferences  limit: 16  split { validation: 0 } }
dataset starts = corpus("sentiment") { kind: prompts  prompt_words: 3  limit: 16  split { validation: 0 } }
model q = load("./qwen")

stage tune: sft { model: q  data: few  chat_template: true  max_seq_length: 40  max_steps: 60  batch_size: 8  log_every: 5  lora { r: 8  alpha: 16  dropout: 0 }  optimizer { lr: 5e-2 } }
stage rm: reward { model: q  data: prefs  max_steps: 4  batch_size: 8  log_every: 2  max_seq_length: 40  optimizer { lr: 3e-3 } }
stage pref: dpo { model: tune.model  data: prefs  chat_template: true  max_steps: 4  batch_size: 8  log_every: 2  max_seq_length: 40  max_prompt_length: 24  optimizer { lr: 1e-3 } }
stage gr: grpo { policy: tune.model  rewards: [rm.model]  prompts: starts  chat_template: true  steps: 2  batch_size: 8  num_generations: 4  mini_batch_size: 8  generation { max_new_tokens: 6 } }
`;

const IDS = [3, 17, 42, 5, 99, 150, 7, 64, 12, 201, 33, 8];
const TEXTS = ['Hello, world!', 'The movie was  wonderful 🎬 — really.', 'def f(x):\n    return x * 2', 'naïve café <|im_end|> after'];

describeInterop('a transformers-made Qwen2 folder with its own tokenizer and chat template, end to end', () => {
  let plan: Plan;
  let store: ArtifactStore;
  const out = (stage: string) => join(store.nodeDir(plan.nodes.find((n) => n.id === `stage:${stage}`)!.hash), 'model');

  beforeAll(async () => {
    makeTinyQwen(join(dir, 'qwen'));
    writeFileSync(SPEC, spec);
    await initBackend('auto');
  }, 120_000);

  it('runs LoRA SFT → reward → DPO and GRPO with the chat template; the LoRA targets are the family default', async () => {
    const c = compileFile(SPEC);
    expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    plan = c.plan!;
    const tune = plan.nodes.find((n) => n.id === 'stage:tune')!;
    expect((tune.params['lora'] as { targets: string[] }).targets).toEqual(['q_proj', 'v_proj']); // PEFT's default for qwen2, in the Plan
    await runPlan(plan, { specPath: SPEC, storeDir: join(dir, 'store'), write: () => {}, tty: false });
    store = new ArtifactStore(join(dir, 'store'));
    const adapter = JSON.parse(readFileSync(join(out('tune'), 'adapter_config.json'), 'utf8'));
    expect(adapter.target_modules).toEqual(['q_proj', 'v_proj']);
    expect(adapter.fan_in_fan_out).toBe(false);
    const logged = (stage: string, key: string) =>
      readFileSync(join(out(stage), '..', 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((l) => key in l)
        .map((l) => l[key] as number);
    const losses = logged("tune", "loss");
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.2); // the adapters learn the chat-formatted answers (5.96 → 5.63 here)
    expect(logged('pref', 'loss').length).toBeGreaterThan(0);
    expect(logged('gr', 'reward').length + logged('gr', 'reward_mean').length).toBeGreaterThan(0);
  }, 600_000);

  it('what it saved opens in transformers and PEFT with rlhfc\'s logits and scores, and AutoTokenizer gives rlhfc\'s ids', async () => {
    const ours: Record<string, { logits?: number[][]; score?: number; ids: number[][]; chat: number[] }> = {};
    for (const stage of ['tune', 'rm', 'pref', 'gr']) {
      const { model, tokenizer } = await fromCheckpoint(out(stage));
      try {
        const x = tf.tensor2d([IDS], [1, IDS.length], 'int32');
        const row =
          stage === 'rm'
            ? { score: tf.tidy(() => model.rewards(x, tf.ones([1, IDS.length]), tf.tensor1d([IDS.length - 1], 'int32')).dataSync()[0]) }
            : { logits: tf.tidy(() => (model.logits(x).arraySync() as number[][][])[0]) };
        x.dispose();
        expect(tokenizer, stage).toBeDefined();
        ours[stage] = { ...row, ids: TEXTS.map((t) => tokenizer!.encode(t, { allowSpecial: true })), chat: encodeChatPrompt(tokenizer!, 'Hello there', 4096) };
      } finally {
        model.dispose();
      }
    }
    const got = pyJson<Record<string, { logits?: number[][]; score?: number; ids: number[][]; chat: number[]; loaded: string }>>(
      `import json, os, sys, torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from peft import AutoPeftModelForCausalLM
folders, ids, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
out = {}
for stage, folder in folders.items():
    tok = AutoTokenizer.from_pretrained(folder)
    row = {"ids": [tok(t)["input_ids"] for t in texts], "chat": tok.apply_chat_template([{"role": "user", "content": "Hello there"}], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]}
    x = torch.tensor([ids])
    with torch.no_grad():
        if stage == "rm":
            m = AutoModelForSequenceClassification.from_pretrained(folder).eval()
            row["score"], row["loaded"] = m(input_ids=x).logits[0, 0].item(), type(m).__name__
        else:
            adapter = os.path.exists(os.path.join(folder, "adapter_config.json"))
            m = (AutoPeftModelForCausalLM if adapter else AutoModelForCausalLM).from_pretrained(folder).eval()
            row["logits"], row["loaded"] = m(input_ids=x).logits[0].tolist(), type(m).__name__
    out[stage] = row
print(json.dumps(out))
`,
      { args: [JSON.stringify(Object.fromEntries(['tune', 'rm', 'pref', 'gr'].map((s) => [s, out(s)]))), JSON.stringify(IDS), JSON.stringify(TEXTS)] },
    );
    expect(got.tune.loaded).toMatch(/^Peft/); // the LoRA SFT result is an adapter
    expect(got.rm.loaded).toBe('Qwen2ForSequenceClassification');
    for (const stage of ['tune', 'pref', 'gr']) {
      const a = ours[stage].logits!;
      const b = got[stage].logits!;
      const diff = Math.max(...a.flatMap((r, t) => r.map((v, k) => Math.abs(v - b[t][k]))));
      expect(diff, `${stage}: logits`).toBeLessThan(1e-4);
    }
    expect(Math.abs(ours.rm.score! - got.rm.score!), 'rm: score').toBeLessThan(1e-4);
    for (const stage of ['tune', 'rm', 'pref', 'gr']) {
      expect(got[stage].ids, `${stage}: tokenizer ids`).toEqual(ours[stage].ids);
      expect(got[stage].chat, `${stage}: chat template ids`).toEqual(ours[stage].chat);
    }
  }, 300_000);
});
