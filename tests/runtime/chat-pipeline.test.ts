// The chat_template switch end to end: a model folder (a tiny GPT-2 with random weights) whose tokenizer
// is a Hugging Face byte-level tokenizer.json with a ChatML chat template, fine-tuned by `sft` and
// sampled by `generate` with `chat_template: true` through the CLI; `rlhfc check` refuses the switch
// on the same folder without a template, naming the parameter. The ids themselves are compared with
// transformers/TRL in tests/interop/chat-templates.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedShapes, gpt2Config, saveModel } from '../../runtime/hf-checkpoint.ts';
import { BYTE_TO_CHAR } from '../../runtime/tokenizers/bytes.ts';
import { HfTokenizer, loadTokenizer } from '../../runtime/tokenizers/index.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-chat-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CHATML = "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

function chatTokenizer(template: boolean): HfTokenizer {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, i) => (vocab[c] = i));
  const specials = ['<|im_start|>', '<|im_end|>', '<|endoftext|>'];
  specials.forEach((t, i) => (vocab[t] = 256 + i));
  const json = {
    added_tokens: specials.map((t, i) => ({ id: 256 + i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    post_processor: { type: 'ByteLevel' },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: [] },
  };
  return new HfTokenizer(json, { config: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>', ...(template ? { chat_template: CHATML } : {}) } });
}

async function modelFolder(name: string, template: boolean): Promise<string> {
  const tok = chatTokenizer(template);
  const cfg = gpt2Config({ vocabSize: tok.vocabSize, context: 128, layers: 1, heads: 2, width: 8, eosId: tok.eosId });
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = 1;
  for (const [n, shape] of expectedShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed++ * 12.9898) * 0.02;
    weights.set(n, { shape, data });
  }
  const dir = join(tmp, name);
  await saveModel(dir, { config: cfg, weights, tokenizer: tok });
  return dir;
}

const spec = (model: string) => `dataset reviews = corpus("sentiment") { kind: pairs }
dataset starts = corpus("sentiment") { kind: prompts }
model m = hf("./${model}")
stage chat: sft { model: m  data: reviews  chat_template: true  max_steps: 2  batch_size: 2  max_seq_length: 64 }
stage talk: generate { model: chat.model  prompts: starts  chat_template: true  max_prompts: 2  max_prompt_length: 48  generation { max_new_tokens: 4 } }
`;

const rlhfc = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/rlhfc.mjs'), ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 });

describe('chat_template: true through the CLI', () => {
  it('sft and generate run on a folder whose tokenizer has a chat template; the saved folder keeps it', async () => {
    await modelFolder('with-template', true);
    writeFileSync(join(tmp, 'chat.rlhf'), spec('with-template'));
    const r = rlhfc(['run', 'chat.rlhf', '--store', join(tmp, 'store')]);
    expect(r.stderr + r.stdout).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    // the fine-tuned model's folder in the store: the original tokenizer files, chat template included
    const found: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name === 'tokenizer_config.json') found.push(d);
      }
    };
    walk(join(tmp, 'store'));
    expect(found.length).toBeGreaterThan(0);
    for (const d of found) {
      expect(JSON.parse(readFileSync(join(d, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(CHATML);
      const back = await loadTokenizer(d);
      expect(back.renderChat!([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    }
  }, 300_000);

  it('a folder without a chat template is refused at compile time, naming the parameter', async () => {
    await modelFolder('without-template', false);
    expect(existsSync(join(tmp, 'without-template', 'tokenizer.json'))).toBe(true);
    writeFileSync(join(tmp, 'plain.rlhf'), spec('without-template'));
    const r = rlhfc(['check', 'plain.rlhf']);
    expect(r.status).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/chat_template is true but the tokenizer of model has no chat template/);
  }, 120_000);
});
