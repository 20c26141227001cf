// Chat templates rendered by rlhfc (@huggingface/jinja, runtime/tokenizers/chat.ts) against
// transformers' own `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)`, with
// templates written here in the style of the real Llama 3.x, Qwen2.5 (its default system prompt),
// Qwen3 (enable_thinking, reasoning kept only after the last user turn), SmolLM2 and Mistral (roles
// must alternate: raise_exception) templates — and the ids of the rendered text (special tokens
// matched) against apply_chat_template's tokenize=True ids. Folders are read with loadTokenizer, so
// tokenizer_config.json's chat_template (a string, and the list-of-named-templates form) is read too.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sentimentSentences } from '../../runtime/sources/dataset-corpus.ts';
import { ChatTemplateError, loadTokenizer, type ChatMessage, type Tokenizer } from '../../runtime/tokenizers/index.ts';
import { describeInterop, py, pyJson, ROOT } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-chat-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LLAMA3 = `{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = strftime_now("%d %b %Y") %}
{%- endif %}
{#- a leading system message becomes the system turn's text #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
`;

const QWEN25 = `{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant") %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

const QWEN3 = `{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.role == "user" or message.role == "system" %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if '</think>' in content %}
            {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
`;

// SmolLM2's style: one line, raw newlines inside the strings, no whitespace control
const SMOLLM2 = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}`;

const MISTRAL = `{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
`;

const FAMILIES: Record<string, { template: unknown; config: Record<string, unknown>; kwargs?: Record<string, unknown>[] }> = {
  llama3: { template: LLAMA3, config: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' }, kwargs: [{}, { date_string: '26 Jul 2024' }] },
  qwen25: { template: QWEN25, config: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' } },
  qwen3: { template: QWEN3, config: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' }, kwargs: [{}, { enable_thinking: false }, { enable_thinking: true }] },
  smollm2: { template: SMOLLM2, config: { bos_token: '<|im_start|>', eos_token: '<|im_end|>', pad_token: '<|im_end|>', unk_token: '<|endoftext|>' } },
  // the list-of-named-templates form: "default" is the one used
  mistral: { template: [{ name: 'default', template: MISTRAL }, { name: 'tool_use', template: '{{ raise_exception("not this one") }}' }], config: { bos_token: '<s>', eos_token: '</s>' } },
};

const reviews = sentimentSentences().map((s) => s.text).filter((_, i) => i % 97 === 0);
const u = (content: string): ChatMessage => ({ role: 'user', content });
const a = (content: string): ChatMessage => ({ role: 'assistant', content });
const sys = (content: string): ChatMessage => ({ role: 'system', content });
const CONVERSATIONS: ChatMessage[][] = [
  [u('Hello!')],
  [u('Hello!'), a('Hi! How can I help you today?')],
  [u('  padded question with spaces and a newline\n')],
  [sys('You are terse.'), u('What is 2+2?')],
  [u('Write a haiku.'), a('Leaves fall / quietly / on the pond'), u('Another one, about winter.')],
  [sys('You are a reviewer.'), u(reviews[0]), a(reviews[1]), u(reviews[2])],
  [u('Solve x+1=3'), a('<think>\nsubtract one\n</think>\n\nx = 2'), u('and x+2=5?')],
  [u('Solve x+1=3'), a('<think>\nsubtract one\n</think>\n\nx = 2')],
  [u('Unicode: naïve café, 日本語, مرحبا, 👨‍👩‍👧 and tabs\tand\nnewlines')],
  [u('A literal <|im_start|> and [INST] inside user text')],
  [sys('System only, then user'), u(reviews[3] ?? 'x')],
  ...reviews.slice(4, 16).map((r) => [u(r)]),
  [u('first'), u('second without an answer')], // roles do not alternate: Mistral's template raises
];

describeInterop('interop: chat templates render as transformers apply_chat_template renders them', () => {
  let ref: Record<string, { folder: string; rows: ({ text: string; ids: number[] } | { error: string })[] }>;
  const toks: Record<string, Tokenizer> = {};

  beforeAll(async () => {
    const spec = join(tmp, 'spec.json');
    const result = join(tmp, 'result.json');
    writeFileSync(spec, JSON.stringify({ out: tmp, result, train: reviews.concat(CONVERSATIONS.flat().map((m) => m.content)), families: FAMILIES, conversations: CONVERSATIONS }));
    py(readFileSync(join(ROOT, 'tests/interop/hf_tokenizers.py'), 'utf8'), { args: ['chat', spec] });
    ref = JSON.parse(readFileSync(result, 'utf8'));
    for (const name of Object.keys(FAMILIES)) toks[name] = await loadTokenizer(ref[name].folder);
  }, 300_000);

  for (const [name, fam] of Object.entries(FAMILIES)) {
    it(`${name}: the same text (and ids) for every conversation, with and without the generation prompt`, () => {
      const tok = toks[name];
      expect(tok.renderChat).toBeDefined();
      let k = 0;
      let compared = 0;
      for (const conv of CONVERSATIONS) {
        for (const gen of [true, false]) {
          for (const extra of fam.kwargs ?? [{}]) {
            const want = ref[name].rows[k++];
            const label = JSON.stringify({ conv: conv.map((m) => m.content.slice(0, 20)), gen, extra });
            if ('error' in want) {
              expect(() => tok.renderChat!(conv, { addGenerationPrompt: gen, extra }), label).toThrow(ChatTemplateError);
              expect(want.error).toMatch(/alternate/);
              continue;
            }
            const text = tok.renderChat!(conv, { addGenerationPrompt: gen, extra });
            expect(text, label).toBe(want.text);
            expect(tok.encode(text, { allowSpecial: true }), label).toEqual(want.ids);
            compared++;
          }
        }
      }
      expect(compared).toBeGreaterThanOrEqual(2 * (CONVERSATIONS.length - 1));
    });
  }

  for (const [name, fam] of Object.entries(FAMILIES)) {
    it(`${name}: with chat_template, prompts and sft/dpo/kto pairs get the ids TRL tokenizes conversational data to`, async () => {
      const { encodeSft, encodePreference, encodeCompletion } = await import('../../runtime/train/examples.ts');
      const { encodePrompts } = await import('../../runtime/train/sampling.ts');
      const tok = toks[name];
      const K = fam.kwargs?.length ?? 1; // rows: conversation × (generation prompt, none) × kwargs; kwargs[0] is {}
      const row = (c: number, gen: boolean) => ref[name].rows[(c * 2 + (gen ? 0 : 1)) * K] as { text: string; ids: number[] };
      const prompt = row(0, true).ids; // apply_chat_template([user], add_generation_prompt=True)
      const full = row(1, false).ids; // apply_chat_template([user, assistant])
      expect(encodePrompts(tok, ['Hello!'], 4096, true)).toEqual([prompt]);
      const sft = encodeSft(tok, '{prompt}\n{response}', 'Hello!', 'Hi! How can I help you today?', 4096, true, true);
      expect(sft.ids).toEqual(full);
      expect(sft.loss.indexOf(1)).toBe(prompt.length); // TRL's completion mask: after len(prompt ids)
      const pref = encodePreference(tok, 'Hello!', 'Hi! How can I help you today?', 'no', 4096, 4095, true);
      expect(pref.chosen.ids).toEqual(full);
      const kto = encodeCompletion(tok, 'Hello!', 'Hi! How can I help you today?', 4096, true);
      expect([...kto.prompt, ...kto.completion]).toEqual(full);
      expect(kto.prompt).toEqual(full.slice(0, prompt.length));
    });
  }

  // The TRL export renders with the same template (compiler/export/trl/py/rlhf_export/common.py): its helpers,
  // and TRL 1.13's own tokenization of the conversational records the export hands DPOTrainer, KTOTrainer and
  // GRPOTrainer (their dataset preparation and prompt tokenization, called as the trainers call them), give
  // the ids rlhfc trains on — at a length that fits and at one that cuts.
  it('the TRL export gives every family the ids rlhfc gives: sft (apply_chat, cut), dpo/kto/grpo through TRL\'s own tokenization, sampled prompts', async () => {
    const { encodeSft, encodePreference, encodeCompletion } = await import('../../runtime/train/examples.ts');
    const { encodePrompts } = await import('../../runtime/train/sampling.ts');
    const cases = reviews.slice(0, 6).map((r, i) => ({ prompt: r.split(' ').slice(0, 5).join(' '), response: r.split(' ').slice(5).join(' ') || 'ok', rejected: reviews[i + 7] ?? 'no' }));
    const CUT = 14;
    const got = pyJson<Record<string, { prompt: number[][]; rendered: number[][]; sft: { input_ids: number[]; completion_mask: number[] }[]; cut: { input_ids: number[]; completion_mask: number[] }[]; dpo: { prompt_ids: number[]; chosen_ids: number[]; rejected_ids: number[] }[]; kto: { prompt_ids: number[]; completion_ids: number[] }[]; grpo: number[][] }>>(
      `
import json, sys, tempfile, types
sys.path.insert(0, "compiler/export/trl/py")
from datasets import Dataset
from trl import DPOConfig, DPOTrainer, GRPOTrainer, KTOConfig, KTOTrainer
from rlhf_export import common
folders, cases, cut = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
out = {}
tmp = tempfile.mkdtemp()
for name, folder in folders.items():
    tok = common.load_tokenizer(folder)
    r = {"prompt": [common.chat_prompt_ids(tok, c["prompt"]) for c in cases]}
    # what common.sample / sequence_logprobs tokenize: the rendered text without added special tokens
    r["rendered"] = [tok(common.chat_prompt_text(tok, c["prompt"]), add_special_tokens=False)["input_ids"] for c in cases]
    r["sft"] = [common.apply_chat({"prompt": c["prompt"], "response": c["response"]}, tok, 4096) for c in cases]
    r["cut"] = [common.apply_chat({"prompt": c["prompt"], "response": c["response"]}, tok, cut) for c in cases]
    prefs = Dataset.from_list([common.conversational({"prompt": c["prompt"], "chosen": c["response"], "rejected": c["rejected"]}, ("chosen", "rejected")) for c in cases])
    dpo = DPOTrainer._prepare_dataset(None, prefs, tok, DPOConfig(output_dir=tmp, max_length=None, report_to="none", bf16=False, use_cpu=True), "train")
    r["dpo"] = [{k: row[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for row in dpo]
    thumbs = Dataset.from_list([common.conversational({"prompt": c["prompt"], "completion": c["response"], "label": True}, ("completion",)) for c in cases])
    kto = KTOTrainer._prepare_dataset(types.SimpleNamespace(calculate_KL=False, desirable_weight=1.0, undesirable_weight=1.0), thumbs, tok, KTOConfig(output_dir=tmp, max_length=None, report_to="none", bf16=False, use_cpu=True), "train")
    r["kto"] = [{k: row[k] for k in ("prompt_ids", "completion_ids")} for row in kto]
    me = types.SimpleNamespace(_is_vlm=False, environment_factories=None, processing_class=tok, tools=None, chat_template=None, chat_template_kwargs={})
    ids = GRPOTrainer._tokenize_prompts(me, [common.conversational({"prompt": c["prompt"]}, ())["prompt"] for c in cases])[0]
    r["grpo"] = [list(x) for x in ids]
    out[name] = r
print(json.dumps(out))
`,
      { args: [JSON.stringify(Object.fromEntries(Object.keys(FAMILIES).map((n) => [n, ref[n].folder]))), JSON.stringify(cases), String(CUT)] },
    );
    for (const name of Object.keys(FAMILIES)) {
      const tok = toks[name];
      const g = got[name];
      cases.forEach((c, i) => {
        const label = `${name} case ${i}`;
        const prompt = encodePrompts(tok, [c.prompt], 4096, true)[0];
        expect(g.prompt[i], label).toEqual(prompt);
        expect(g.rendered[i], label).toEqual(prompt);
        expect(g.grpo[i], label).toEqual(prompt);
        for (const [rows, maxLen] of [[g.sft, 4096], [g.cut, CUT]] as const) {
          const want = encodeSft(tok, '{prompt}{response}', c.prompt, c.response, maxLen, true, true);
          expect(rows[i].input_ids, `${label} max ${maxLen}`).toEqual(want.ids);
          // rlhfc's loss marks the completion from the second token on; SFTTrainer's completion_mask the same tokens
          expect(rows[i].completion_mask.map((m, t) => (t === 0 ? 0 : m)), `${label} max ${maxLen}`).toEqual(want.loss);
        }
        const pref = encodePreference(tok, c.prompt, c.response, c.rejected, 4096, 4095, true);
        const promptLen = pref.chosen.loss.indexOf(1);
        expect([...g.dpo[i].prompt_ids, ...g.dpo[i].chosen_ids], label).toEqual(pref.chosen.ids);
        expect([...g.dpo[i].prompt_ids, ...g.dpo[i].rejected_ids], label).toEqual(pref.rejected.ids);
        expect(g.dpo[i].prompt_ids.length, label).toBe(promptLen);
        const kto = encodeCompletion(tok, c.prompt, c.response, 4096, true);
        expect(g.kto[i], label).toEqual({ prompt_ids: kto.prompt, completion_ids: kto.completion });
      });
      // the cut case cuts: the check above compared rows that differ from the uncut ones
      expect(g.cut.some((r, i) => r.input_ids.length < g.sft[i].input_ids.length), name).toBe(true);
    }
  }, 300_000);

  it('without a chat template, the export\'s SFT rows start with the bos a Llama 3 or Mistral tokenizer adds, as rlhfc\'s', async () => {
    const { encodeSft } = await import('../../runtime/train/examples.ts');
    const texts = reviews.slice(0, 40);
    const got = pyJson<Record<string, { folder: string; rows: { input_ids: number[]; completion_mask: number[] }[] }>>(
      `
import json, os, sys
sys.path.insert(0, "tests/interop")
sys.path.insert(0, "compiler/export/trl/py")
import hf_tokenizers
from transformers import PreTrainedTokenizerFast
from rlhf_export import common
out, texts = sys.argv[1], json.loads(sys.argv[2])
result = {}
for name in ("llama3", "mistral", "qwen2"):
    tok, config = getattr(hf_tokenizers, name)(texts, 300)
    folder = os.path.join(out, "bos-" + name)
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    t = common.load_tokenizer(folder)
    result[name] = {"folder": folder, "rows": [common.apply_template({"prompt": x[:20], "response": x[20:]}, "Q: {prompt}\\nA: {response}", t, 64) for x in texts[:6]]}
print(json.dumps(result))
`,
      { args: [tmp, JSON.stringify(texts)] },
    );
    let withBos = 0;
    for (const [name, g] of Object.entries(got)) {
      const tok = await loadTokenizer(g.folder);
      if (tok.bosId !== undefined) withBos++;
      texts.slice(0, 6).forEach((x, i) => {
        const want = encodeSft(tok, 'Q: {prompt}\nA: {response}', x.slice(0, 20), x.slice(20), 64);
        expect(g.rows[i].input_ids, `${name} ${i}`).toEqual(want.ids);
        expect(g.rows[i].input_ids[0] === tok.bosId, `${name} ${i}: starts with bos`).toBe(tok.bosId !== undefined);
      });
    }
    expect(withBos).toBe(2); // llama3 and mistral add one, qwen2 none
  }, 300_000);

  it('templates differ where the families differ: Qwen2.5 adds its default system prompt, Qwen3 the empty think block', () => {
    expect(toks.qwen25.renderChat!([u('hi')], { addGenerationPrompt: true })).toContain('You are Qwen');
    expect(toks.qwen3.renderChat!([u('hi')], { addGenerationPrompt: true, extra: { enable_thinking: false } })).toMatch(/<think>\n\n<\/think>\n\n$/);
  });
});
