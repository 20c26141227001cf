// The Llama family (Llama, Qwen2, Qwen3, Mistral) against transformers and PEFT, both ways. Tiny random
// checkpoints of each family are written by transformers with the features switched on (GQA, head_dim ≠
// width/heads, Qwen2 biases, Qwen3 q/k norm, untied heads, Llama attention/MLP biases, rope llama3 /
// linear / dynamic / yarn, Mistral's and Qwen's sliding windows, bf16 and fp16 weights, a sharded
// index). rlhfc loads each and must give, in float32: the logits of every prefix length 1..context
// within 1e-4, the same greedy continuation token for token (KV-cache sampler), the same logits for a
// left-padded batch with HF position ids, the same reward scores as *ForSequenceClassification, the
// same logits as a PEFT LoRA adapter (non-zero B); and what rlhfc saves (full weights, reward model,
// LoRA adapter) opens in AutoModelForCausalLM / AutoModelForSequenceClassification / PeftModel with
// the same numbers. Unsupported fields are refused by name.
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import type { CausalLM } from '../../runtime/model/causal-lm.ts';
import { generate } from '../../runtime/model/decode.ts';
import { fromCheckpoint, toAdapterCheckpoint, toCheckpoint } from '../../runtime/model/io.ts';
import { Llama } from '../../runtime/model/llama.ts';
import { loadModel } from '../../runtime/hf-checkpoint.ts';
import { loadAddon } from '../../runtime/native/addon.ts';
import { UserError } from '../../core/diagnostics.ts';
import { describeInterop, pyJson } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-llama-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const CONTEXT = 16;
// every variant on the cpu backend (composed ops) and, when the addon is built, on native (the fused
// RMSNorm, rotary, SwiGLU and grouped-query attention kernels, and the in-place GQA KV cache)
const BACKENDS = ['cpu', ...(loadAddon().addon !== undefined || process.env.RLHFC_REQUIRE_NATIVE === '1' ? ['native'] : [])];
const VOCAB = 64;
const PAD = VOCAB - 1; // never among the inputs
const ids = Array.from({ length: CONTEXT }, (_, i) => (i * 11 + 5) % (VOCAB - 1));
const PROMPT = ids.slice(0, 4);
const ROWS = [ids.slice(0, 5), ids.slice(3, 12), ids.slice(1, 2)]; // left-padded batch, lengths 5, 9, 1

type Variant = { cls: string; cfg: Record<string, unknown>; save?: Record<string, unknown>; dtype?: 'bfloat16' | 'float16' };
const dims = { vocab_size: VOCAB, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2, max_position_embeddings: CONTEXT };
const VARIANTS: Record<string, Variant> = {
  'llama: GQA, head_dim 8 ≠ 24/4, untied, attention and MLP biases, rope llama3': {
    cls: 'Llama',
    cfg: { ...dims, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: false, attention_bias: true, mlp_bias: true, rope_parameters: { rope_type: 'llama3', rope_theta: 10000.0, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 1000 } },
  },
  'llama: tied, rope linear': { cls: 'Llama', cfg: { ...dims, num_attention_heads: 3, num_key_value_heads: 3, tie_word_embeddings: true, rope_parameters: { rope_type: 'linear', rope_theta: 500.0, factor: 2.0 } } },
  'llama: rope dynamic, rms_norm_eps 1e-2': { cls: 'Llama', cfg: { ...dims, num_attention_heads: 2, num_key_value_heads: 2, rms_norm_eps: 1e-2, rope_parameters: { rope_type: 'dynamic', rope_theta: 10000.0, factor: 2.0 } } },
  'llama: rope yarn (original 8 < context 16), sharded index': {
    cls: 'Llama',
    cfg: { ...dims, num_attention_heads: 4, num_key_value_heads: 1, rope_parameters: { rope_type: 'yarn', rope_theta: 10000.0, factor: 4.0, original_max_position_embeddings: 8 } },
    save: { max_shard_size: '20KB' },
  },
  'qwen2: q/k/v biases, tied, GQA, bf16 shards': {
    cls: 'Qwen2',
    cfg: { ...dims, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, rope_parameters: { rope_type: 'default', rope_theta: 1000000.0 } },
    save: { max_shard_size: '8KB' },
    dtype: 'bfloat16',
  },
  'qwen2: use_sliding_window (window 4 on layer 1)': {
    cls: 'Qwen2',
    cfg: { ...dims, num_attention_heads: 2, num_key_value_heads: 2, use_sliding_window: true, sliding_window: 4, max_window_layers: 1 },
  },
  'qwen3: q/k norm, head_dim 12, GQA, untied, fp16': {
    cls: 'Qwen3',
    cfg: { ...dims, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 12, tie_word_embeddings: false },
    dtype: 'float16',
  },
  'mistral: sliding window 5, GQA, untied': { cls: 'Mistral', cfg: { ...dims, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 5, tie_word_embeddings: false } },
};
const REFUSED: Record<string, [string, Record<string, unknown>, RegExp]> = {
  'hidden_act gelu': ['Llama', { ...dims, num_attention_heads: 2, hidden_act: 'gelu' }, /hidden_act is "gelu"/],
  'rope longrope': ['Llama', { ...dims, num_attention_heads: 2, rope_parameters: { rope_type: 'longrope', rope_theta: 10000.0, short_factor: [1, 1, 1, 1, 1, 1], long_factor: [1, 1, 1, 1, 1, 1], original_max_position_embeddings: 8 } }, /rope_type is "longrope"/],
  'partial_rotary_factor 0.5': ['Llama', { ...dims, num_attention_heads: 2, partial_rotary_factor: 0.5 }, /partial_rotary_factor is 0.5/],
};

const dirOf = (name: string) => join(tmp, name.replace(/\W+/g, '_').slice(0, 60));

interface Want {
  logits: number[][][];
  greedy: number[];
  batch: number[][][];
  reward: number[];
  lora: number[][];
}

/** Every variant written by transformers (plus a reward model and a PEFT adapter), and transformers' numbers for each. */
function writeFolders(): Record<string, Want> {
  const spec = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, { ...v, dir: dirOf(k) }]));
  const refused = Object.fromEntries(Object.entries(REFUSED).map(([k, [cls, cfg]]) => [k, { cls, cfg, dir: dirOf(k) }]));
  writeFileSync(join(tmp, 'spec.json'), JSON.stringify({ spec, refused, ids, prompt: PROMPT, rows: ROWS, pad: PAD, context: CONTEXT }));
  return pyJson<Record<string, Want>>(
    `import json, sys, torch, transformers
from peft import LoraConfig, get_peft_model
s = json.load(open(sys.argv[1]))
ids, rows, pad = s["ids"], s["rows"], s["pad"]
out = {}
def logits_all(model):
    with torch.no_grad():
        return [model(input_ids=torch.tensor([ids[:L]])).logits[0].tolist() for L in range(1, len(ids) + 1)]
def batch(model):
    T = max(map(len, rows))
    x = torch.tensor([[pad] * (T - len(r)) + r for r in rows])
    m = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    pos = (m.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return model(input_ids=x, attention_mask=m, position_ids=pos).logits.tolist()
for name, v in s["refused"].items():
    cfg = getattr(transformers, v["cls"] + "Config")(**v["cfg"])
    torch.manual_seed(0)
    getattr(transformers, v["cls"] + "ForCausalLM")(cfg).save_pretrained(v["dir"])
for name, v in s["spec"].items():
    cfg = getattr(transformers, v["cls"] + "Config")(**v["cfg"], pad_token_id=pad)
    torch.manual_seed(1)
    model = getattr(transformers, v["cls"] + "ForCausalLM")(cfg).eval()
    with torch.no_grad():  # larger than init so that every piece changes the numbers
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(torch.rand_like(p) + 0.5)
            elif p.ndim > 1:
                p.normal_(0, 0.3)
            else:
                p.normal_(0, 0.2)
    if v.get("dtype"):
        model = model.to(getattr(torch, v["dtype"]))
    model.save_pretrained(v["dir"], **(v.get("save") or {}))
    model = getattr(transformers, v["cls"] + "ForCausalLM").from_pretrained(v["dir"], dtype=torch.float32).eval()  # the stored (rounded) weights, in fp32
    w = {"logits": logits_all(model), "batch": batch(model)}
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = pad
    with torch.no_grad():
        g = model.generate(torch.tensor([s["prompt"]]), max_new_tokens=s["context"] - len(s["prompt"]), do_sample=False)
    w["greedy"] = g[0, len(s["prompt"]):].tolist()
    # a reward model: the same body with a score head, read at the last non-pad token
    rm = getattr(transformers, v["cls"] + "ForSequenceClassification")(cfg.__class__(**v["cfg"], pad_token_id=pad, num_labels=1)).eval()
    rm.model.load_state_dict(model.model.state_dict())
    with torch.no_grad():
        rm.score.weight.normal_(0, 0.5)
    rm.save_pretrained(v["dir"] + "_rm")
    T = max(map(len, rows))
    x = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    m = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    with torch.no_grad():
        w["reward"] = rm(input_ids=x, attention_mask=m).logits[:, 0].tolist()
    # a PEFT adapter on every projection, B non-zero
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    torch.manual_seed(2)
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, lora_dropout=0.0)).eval()
    pm.save_pretrained(v["dir"] + "_lora")
    with torch.no_grad():
        w["lora"] = pm(input_ids=torch.tensor([ids])).logits[0].tolist()
    out[name] = w
print(json.dumps(out))`,
    { args: [join(tmp, 'spec.json')] },
  );
}

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, t) => r.map((x, v) => Math.abs(x - b[t][v]))));

function prefixLogits(model: CausalLM): number[][][] {
  return ids.map((_, i) => tf.tidy(() => (model.logits(tf.tensor2d([ids.slice(0, i + 1)], [1, i + 1], 'int32')).arraySync() as number[][][])[0]));
}

function leftPadded(model: CausalLM): number[][][] {
  const T = Math.max(...ROWS.map((r) => r.length));
  return tf.tidy(() => {
    const x = tf.tensor2d(ROWS.map((r) => [...Array(T - r.length).fill(PAD), ...r]), [ROWS.length, T], 'int32');
    const m = tf.tensor2d(ROWS.map((r) => [...Array(T - r.length).fill(0), ...Array(r.length).fill(1)]), [ROWS.length, T]);
    return model.logits(x, m).arraySync() as number[][][];
  });
}

function rewardScores(model: CausalLM): number[] {
  const T = Math.max(...ROWS.map((r) => r.length));
  return tf.tidy(() => {
    const x = tf.tensor2d(ROWS.map((r) => [...r, ...Array(T - r.length).fill(PAD)]), [ROWS.length, T], 'int32');
    const m = tf.tensor2d(ROWS.map((r) => [...Array(r.length).fill(1), ...Array(T - r.length).fill(0)]), [ROWS.length, T]);
    return Array.from(model.rewards(x, m, tf.tensor1d(ROWS.map((r) => r.length - 1), 'int32')).dataSync());
  });
}

const fullLogits = (model: CausalLM) => tf.tidy(() => (model.logits(tf.tensor2d([ids], [1, CONTEXT], 'int32')).arraySync() as number[][][])[0]);

describeInterop('Llama-family checkpoints against transformers and PEFT', () => {
  let want: Record<string, Want>;
  beforeAll(() => {
    want = writeFolders();
  }, 900_000);

  for (const name of Object.keys(VARIANTS)) for (const backend of BACKENDS) {
    it(`${name} (${backend}): logits at every length, greedy decoding, a left-padded batch, reward scores, PEFT LoRA`, async () => {
      expect((await initBackend(backend)).name).toBe(backend);
      const w = want[name];
      const { model } = await fromCheckpoint(dirOf(name));
      const count = tf.memory().numTensors;
      try {
        expect(model).toBeInstanceOf(Llama);
        const got = prefixLogits(model);
        got.forEach((l, i) => expect(maxDiff(l, w.logits[i]), `length ${i + 1}`).toBeLessThan(1e-4));
        const g = await generate(model, [PROMPT], { maxNewTokens: CONTEXT - PROMPT.length, temperature: 0, eosId: VOCAB, padId: PAD });
        expect(g.tokens[0]).toEqual(w.greedy);
        const b = leftPadded(model);
        ROWS.forEach((r, row) => {
          const T = b[row].length;
          for (let t = T - r.length; t < T; t++) expect(maxDiff([b[row][t]], [w.batch[row][t]]), `row ${row} position ${t}`).toBeLessThan(1e-4);
        });
        expect(tf.memory().numTensors).toBe(count);
      } finally {
        model.dispose();
      }
      const rm = (await fromCheckpoint(dirOf(name) + '_rm')).model;
      try {
        const r = rewardScores(rm);
        r.forEach((x, i) => expect(Math.abs(x - w.reward[i]), `reward row ${i}`).toBeLessThan(1e-4));
        expect(Math.max(...w.reward) - Math.min(...w.reward)).toBeGreaterThan(1e-2);
      } finally {
        rm.dispose();
      }
      const lora = (await fromCheckpoint(dirOf(name) + '_lora')).model;
      try {
        expect(lora.lora?.adapters.size).toBe(2 * 7);
        expect(maxDiff(fullLogits(lora), w.lora)).toBeLessThan(1e-4);
        expect(maxDiff(w.lora, w.logits[CONTEXT - 1])).toBeGreaterThan(1e-2); // the adapter changes the numbers
      } finally {
        lora.dispose();
      }
    });
  }

  it('the checks can fail: each variant holds what it claims, and rope scaling, sliding windows or q/k norm ignored would differ', async () => {
    await initBackend('cpu');
    const header = (file: string) => {
      const b = readFileSync(file);
      return JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString('utf8')) as Record<string, { dtype?: string }>;
    };
    const bf16 = dirOf('qwen2: q/k/v biases, tied, GQA, bf16 shards');
    const index = JSON.parse(readFileSync(join(bf16, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map))];
    expect(shards.length).toBeGreaterThan(1);
    expect(Object.values(header(join(bf16, shards[0]))).some((t) => t.dtype === 'BF16')).toBe(true);
    const fp16 = dirOf('qwen3: q/k norm, head_dim 12, GQA, untied, fp16');
    expect(Object.values(header(join(fp16, 'model.safetensors'))).some((t) => t.dtype === 'F16')).toBe(true);
    const changed: [string, (c: Llama['config']) => Llama['config']][] = [
      ['llama: GQA, head_dim 8 ≠ 24/4, untied, attention and MLP biases, rope llama3', (c) => ({ ...c, rope: { type: 'default', theta: c.rope.theta } })],
      ['llama: tied, rope linear', (c) => ({ ...c, rope: { type: 'default', theta: c.rope.theta } })],
      ['llama: rope yarn (original 8 < context 16), sharded index', (c) => ({ ...c, rope: { type: 'default', theta: c.rope.theta } })],
      ['qwen2: use_sliding_window (window 4 on layer 1)', (c) => ({ ...c, windows: undefined })],
      ['mistral: sliding window 5, GQA, untied', (c) => ({ ...c, windows: undefined })],
      ['qwen3: q/k norm, head_dim 12, GQA, untied, fp16', (c) => ({ ...c, qkNorm: false })],
    ];
    for (const [name, change] of changed) {
      const { model } = await fromCheckpoint(dirOf(name));
      const m = model as Llama;
      const other = new Llama(change(m.config), { init: false });
      for (const [n, w] of m.weights) other.weights.get(n)?.assign(w);
      try {
        expect(maxDiff(fullLogits(m), want[name].logits[CONTEXT - 1])).toBeLessThan(1e-4);
        expect(maxDiff(fullLogits(other), want[name].logits[CONTEXT - 1]), name).toBeGreaterThan(1e-3);
      } finally {
        m.dispose();
        other.dispose();
      }
    }
  });

  it('rlhfc saves what transformers and PEFT open with the same numbers: full weights (LoRA merged), a reward model, an adapter', async () => {
    await initBackend('cpu');
    const results: Record<string, { lm: number[][]; rm: number[]; peft: number[][] }> = {};
    const names = Object.keys(VARIANTS).filter((n) => /^(llama: GQA|qwen2: q\/k\/v|qwen3|mistral)/.test(n));
    for (const name of names) {
      const { model } = await fromCheckpoint(dirOf(name) + '_lora');
      const base = (await fromCheckpoint(dirOf(name))).model;
      const rm = (await fromCheckpoint(dirOf(name) + '_rm')).model;
      try {
        await toCheckpoint(dirOf(name) + '_ours', model, { eosId: 0 });
        base.addLora({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] });
        for (const [n, v] of base.lora!.named()) if (n.includes('lora_B')) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', 7)));
        await toAdapterCheckpoint(dirOf(name) + '_ours_lora', base, { baseDir: dirOf(name) });
        await toCheckpoint(dirOf(name) + '_ours_rm', rm, { eosId: 0, kind: 'reward_model' });
        results[name] = { lm: fullLogits(model), peft: fullLogits(base), rm: rewardScores(rm) };
      } finally {
        [model, base, rm].forEach((m) => m.dispose());
      }
    }
    const cfg = JSON.parse(readFileSync(join(dirOf(names[0]) + '_ours', 'config.json'), 'utf8'));
    expect(cfg.rope_parameters.rope_type).toBe('llama3'); // the original fields are kept
    expect(cfg.architectures).toEqual(['LlamaForCausalLM']);
    const got = pyJson<Record<string, { lm: number[][]; rm: number[]; peft: number[][] }>>(
      `import json, sys, torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
from peft import PeftModel
dirs, ids, rows, pad = json.loads(sys.argv[1]), ${JSON.stringify(ids)}, ${JSON.stringify(ROWS)}, ${PAD}
out = {}
for name, d in dirs.items():
    with torch.no_grad():
        lm = AutoModelForCausalLM.from_pretrained(d + "_ours").eval()
        base = AutoModelForCausalLM.from_pretrained(d).float().eval()
        peft = PeftModel.from_pretrained(base, d + "_ours_lora").eval()
        rm = AutoModelForSequenceClassification.from_pretrained(d + "_ours_rm").eval()
        T = max(map(len, rows))
        x = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
        m = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
        rm.config.pad_token_id = pad
        out[name] = {"lm": lm(input_ids=torch.tensor([ids])).logits[0].tolist(), "peft": peft(input_ids=torch.tensor([ids])).logits[0].tolist(), "rm": rm(input_ids=x, attention_mask=m).logits[:, 0].tolist()}
print(json.dumps(out))`,
      { args: [JSON.stringify(Object.fromEntries(names.map((n) => [n, dirOf(n)])))] },
    );
    for (const name of names) {
      expect(maxDiff(got[name].lm, results[name].lm), `${name}: full weights`).toBeLessThan(1e-4);
      expect(maxDiff(got[name].peft, results[name].peft), `${name}: adapter`).toBeLessThan(1e-4);
      got[name].rm.forEach((x, i) => expect(Math.abs(x - results[name].rm[i]), `${name}: reward row ${i}`).toBeLessThan(1e-4));
    }
  });

  for (const [name, [, , message]] of Object.entries(REFUSED)) {
    it(`refuses ${name} by name`, async () => {
      const e = await loadModel(dirOf(name)).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(UserError);
      expect((e as UserError).message).toMatch(message);
    });
  }
});
