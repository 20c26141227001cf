// Checkpoints both ways, compared numerically (max |Δlogit| < 1e-4), at every sequence length:
// GPT-2 folders written by transformers for each config variant load in rlhfc with the same
// logits or are refused with an error naming the field; models and reward models saved by rlhfc
// open in AutoModelForCausalLM / AutoModelForSequenceClassification and compute the same numbers,
// and a value head computes in the export's PPO model (PolicyWithValueHead) what it computes in rlhfc.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import type { CausalLM } from '../../runtime/model/causal-lm.ts';
import { GPT } from '../../runtime/model/gpt.ts';
import { fromCheckpoint, toCheckpoint } from '../../runtime/model/io.ts';
import { describeInterop, pyJson } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const CONTEXT = 12;
const VOCAB = 50;
const ids = Array.from({ length: CONTEXT }, (_, i) => (i * 7 + 3) % VOCAB);

/** logits[L-1] = the logits of the prefix of length L, for L = 1..CONTEXT. */
function rlhfcLogits(model: CausalLM): number[][][] {
  return ids.map((_, i) =>
    tf.tidy(() => {
      const x = tf.tensor2d([ids.slice(0, i + 1)], [1, i + 1], 'int32');
      return (model.logits(x).arraySync() as number[][][])[0];
    }),
  );
}

const maxDiff = (a: number[][][], b: number[][][]) => Math.max(...a.flatMap((m, i) => m.flatMap((r, t) => r.map((x, v) => Math.abs(x - b[i][t][v])))));

const TORCH_LOGITS = `
def logits_all(model, ids):
    import torch
    with torch.no_grad():
        return [model(input_ids=torch.tensor([ids[: L]])).logits[0].tolist() for L in range(1, len(ids) + 1)]
`;

const VARIANTS: Record<string, Record<string, unknown>> = {
  default: {},
  'layer_norm_epsilon 1e-3': { layer_norm_epsilon: 1e-3 },
  'activation gelu (erf)': { activation_function: 'gelu' },
  'activation relu': { activation_function: 'relu' },
  'activation silu': { activation_function: 'silu' },
  'activation swish': { activation_function: 'swish' },
  'activation gelu_fast': { activation_function: 'gelu_fast' },
  'activation gelu_pytorch_tanh': { activation_function: 'gelu_pytorch_tanh' },
  'activation quick_gelu': { activation_function: 'quick_gelu' },
  'activation tanh': { activation_function: 'tanh' },
  'pad_token_id set': { pad_token_id: 0 },
  'tie_word_embeddings true, n_inner 48': { tie_word_embeddings: true, n_inner: 48 },
};
const REFUSED: Record<string, [Record<string, unknown>, RegExp]> = {
  'tie_word_embeddings false (a separate LM head)': [{ tie_word_embeddings: false }, /tie_word_embeddings: false/],
  'activation xielu (parametric)': [{ activation_function: 'xielu' }, /activation_function "xielu" is not supported/],
  'scale_attn_by_inverse_layer_idx': [{ scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx is true/],
};

/** Every variant's folder written by transformers in one Python run; returns each one's logits at every length. */
function writeTransformersFolders(variants: Record<string, Record<string, unknown>>): Record<string, number[][][]> {
  const dirs = Object.fromEntries(Object.keys(variants).map((k) => [k, join(tmp, k.replace(/\W+/g, '_'))]));
  return pyJson<Record<string, number[][][]>>(
    `import json, sys, torch
from transformers import GPT2Config, GPT2LMHeadModel
${TORCH_LOGITS}
variants, dirs, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), {}
for name, extra in variants.items():
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=${VOCAB}, n_positions=${CONTEXT}, n_embd=24, n_layer=2, n_head=3, **extra)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # larger than init so that activations and epsilon matter
        for p in model.parameters():
            p.mul_(8 if p.ndim > 1 else 1)
        for n, p in model.named_parameters():
            if "ln_" in n and n.endswith("weight"):
                p.copy_(torch.rand_like(p) * 0.05 + 0.01)
    model.save_pretrained(dirs[name])
    out[name] = logits_all(model, ${JSON.stringify(ids)})
print(json.dumps(out))`,
    { args: [JSON.stringify(variants), JSON.stringify(dirs)] },
  );
}
const dirOf = (name: string) => join(tmp, name.replace(/\W+/g, '_'));

describeInterop('interop: checkpoints both ways with transformers', () => {
  let want: Record<string, number[][][]>;
  beforeAll(() => {
    want = writeTransformersFolders({ ...VARIANTS, ...Object.fromEntries(Object.entries(REFUSED).map(([k, [e]]) => [k, e])), probe: { layer_norm_epsilon: 1e-3, activation_function: 'gelu' } });
  }, 900_000);

  for (const name of Object.keys(VARIANTS)) {
    it(`a GPT-2 folder saved by transformers (${name}) loads with the same logits at every length`, async () => {
      await initBackend('cpu');
      const { model } = await fromCheckpoint(dirOf(name));
      try {
        expect(maxDiff(rlhfcLogits(model), want[name])).toBeLessThan(1e-4);
      } finally {
        model.dispose();
      }
    });
  }

  for (const [name, [, why]] of Object.entries(REFUSED)) {
    it(`a folder with ${name} is refused, naming the field`, async () => {
      await expect(fromCheckpoint(dirOf(name))).rejects.toThrow(why);
    });
  }

  it('the checks can fail: layer_norm_epsilon and activation ignored would differ by more than the tolerance', async () => {
    const model = (await fromCheckpoint(dirOf('probe'))).model as GPT;
    const plain = new GPT({ ...model.config, layerNormEps: undefined, activation: undefined }, { init: false });
    for (const [n, w] of model.weights) plain.weights.get(n)!.assign(w);
    try {
      expect(maxDiff(rlhfcLogits(model), want['probe'])).toBeLessThan(1e-4);
      expect(maxDiff(rlhfcLogits(plain), want['probe'])).toBeGreaterThan(1e-3);
    } finally {
      plain.dispose();
      model.dispose();
    }
  });

  it('a model saved by rlhfc opens with AutoModelForCausalLM with the same logits at every length; its value head in the export\'s PolicyWithValueHead gives the same values, padded batch of every length', async () => {
    await initBackend('cpu');
    const model = new GPT({ vocabSize: VOCAB, context: CONTEXT, width: 24, layers: 2, heads: 3, dropout: 0 }, { seed: 5, heads: ['value'] });
    model.weights.get('v_head.summary.bias')!.assign(tf.tensor1d([0.3]));
    const dir = join(tmp, 'rlhfc_lm');
    const rows = Array.from({ length: CONTEXT }, (_, i) => ids.slice(0, i + 1)); // every length 1..context, right-padded
    const pad = VOCAB - 1;
    try {
      await toCheckpoint(dir, model, { eosId: VOCAB - 1 });
      const want = rlhfcLogits(model);
      const [wantBatchLogits, wantValues] = tf.tidy(() => {
        const x = tf.tensor2d(rows.map((r) => [...r, ...Array(CONTEXT - r.length).fill(pad)]), [CONTEXT, CONTEXT], 'int32');
        const m = tf.tensor2d(rows.map((r) => Array.from({ length: CONTEXT }, (_, t) => (t < r.length ? 1 : 0))), [CONTEXT, CONTEXT]);
        return [model.logits(x, m).arraySync() as number[][][], model.values(x, m).arraySync() as number[][]];
      });
      const got = pyJson<{ logits: number[][][]; batchLogits: number[][][]; values: number[][] }>(`import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(import.meta.dirname, '../../compiler/export/trl/py'))})
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from rlhf_export.ppo import PolicyWithValueHead
${TORCH_LOGITS}
rows, pad = ${JSON.stringify(rows)}, ${pad}
lm = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()
out = {"logits": logits_all(lm, ${JSON.stringify(ids)})}
model = PolicyWithValueHead(lm).eval()
w = load_file(sys.argv[1] + "/model.safetensors")
model.v_head.load_state_dict({"weight": w["v_head.summary.weight"], "bias": w["v_head.summary.bias"]})
T = max(map(len, rows))
ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
with torch.no_grad():
    logits, values = model(ids, mask)
out["batchLogits"], out["values"] = logits.tolist(), values.tolist()
print(json.dumps(out))`, { args: [dir] });
      expect(maxDiff(got.logits, want)).toBeLessThan(1e-4);
      rows.forEach((r, b) =>
        r.forEach((_, t) => {
          expect(Math.abs(got.values[b][t] - wantValues[b][t]), `value, length ${r.length}, position ${t}`).toBeLessThan(1e-4);
          expect(Math.max(...got.batchLogits[b][t].map((x, v) => Math.abs(x - wantBatchLogits[b][t][v]))), `logits, length ${r.length}, position ${t}`).toBeLessThan(1e-4);
        }),
      );
      expect(Math.max(...wantValues.flat()) - Math.min(...wantValues.flat())).toBeGreaterThan(1e-2); // the values vary: the head is read
    } finally {
      model.dispose();
    }
  });

  it('a reward model saved by rlhfc opens as AutoModelForSequenceClassification and scores a padded batch the same', async () => {
    await initBackend('cpu');
    const model = new GPT({ vocabSize: VOCAB, context: CONTEXT, width: 24, layers: 2, heads: 3, dropout: 0 }, { seed: 6, heads: ['reward'] });
    const dir = join(tmp, 'rlhfc_rm');
    const rows = Array.from({ length: CONTEXT }, (_, i) => ids.slice(0, i + 1)); // every length 1..context
    try {
      await toCheckpoint(dir, model, { eosId: VOCAB - 1, kind: 'reward_model' });
      const want = tf.tidy(() => {
        const T = CONTEXT;
        const x = tf.tensor2d(rows.map((r) => [...r, ...Array(T - r.length).fill(VOCAB - 1)]), [rows.length, T], 'int32');
        const m = tf.tensor2d(rows.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0))), [rows.length, T]);
        return Array.from(model.rewards(x, m, tf.tensor1d(rows.map((r) => r.length - 1), 'int32')).dataSync());
      });
      const got = pyJson<number[]>(`import json, sys, torch
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()
rows = ${JSON.stringify(rows)}
T = max(map(len, rows))
pad = model.config.pad_token_id
ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
with torch.no_grad():
    print(json.dumps(model(input_ids=ids, attention_mask=mask).logits[:, 0].tolist()))`, { args: [dir] });
      got.forEach((x, i) => expect(Math.abs(x - want[i]), `length ${i + 1}`).toBeLessThan(1e-4));
    } finally {
      model.dispose();
    }
  });
});
