// What `rlhfc run` saves (cases/checkpoints.rlhf: a LoRA adapter over a pretrained base, reward
// models on a BPE and on a character tokenizer), opened by PEFT and transformers and compared
// numerically with rlhfc (max |Δ| < 1e-4):
// - the adapter opens with peft.PeftModel.from_pretrained and with AutoPeftModelForCausalLM from
//   another working directory (its base is not a cwd-relative path), logits = rlhfc's, at every
//   length; after the store moves, rlhfc still finds the base;
// - a reward model's folder scores a padded batch of real preference pairs (as rlhfc encodes them,
//   ending in end-of-text) the same with the folder's own tokenizer padding it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { loadCorpus } from '../../runtime/sources/dataset-corpus.ts';
import { fromCheckpoint } from '../../runtime/model/io.ts';
import type { CausalLM } from '../../runtime/model/causal-lm.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { collate, encodePreference, type Row } from '../../runtime/train/examples.ts';
import type { Tokenizer } from '../../runtime/tokenizers/index.ts';
import { describeInterop, pyJson, ROOT } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-saved-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const CONTEXT = 40;

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, i) => r.map((x, j) => Math.abs(x - b[i][j]))));

/** Logits of the prefix of length L at its last position, for L = 1..ids.length: [L-1][vocab]. */
function lastLogits(model: CausalLM, ids: number[]): number[][] {
  return ids.map((_, i) => tf.tidy(() => (model.logits(tf.tensor2d([ids.slice(0, i + 1)], [1, i + 1], 'int32')).arraySync() as number[][][])[0][i]));
}

const PY_LAST_LOGITS = `
def last_logits(model, ids):
    import torch
    with torch.no_grad():
        return [model(input_ids=torch.tensor([ids[: L]])).logits[0, -1].tolist() for L in range(1, len(ids) + 1)]
`;

describeInterop('interop: what rlhfc run saves opens in PEFT and transformers with the same numbers', () => {
  let store: string;
  const dirs: Record<string, string> = {};
  const local: { ids: number[]; withLora: number[][]; merged: number[][]; baseDir?: string; rewards: Record<string, { rows: Row[]; want: number[]; eosId: number }> } = { ids: [], withLora: [], merged: [], rewards: {} };
  let got: { base: number[][]; peft: number[][]; auto: number[][]; rewards: Record<string, { scores: number[]; eosPadded: number[]; side: string; pad: number; cfgPad: number }> };

  /** The rows rlhfc's reward stage scores for real pairs (ending in end-of-text), and every length 1..context. */
  function rewardRows(tok: Tokenizer): Row[] {
    const pairs = (loadCorpus('sentiment', { kind: 'preferences', promptWords: 4, seed: 3 }) as { prompt: string; chosen: string; rejected: string }[]).slice(0, 12);
    pairs.push({ prompt: 'Review: ', chosen: "L'Haÿ-les-Roses: lovely ÿ café", rejected: '' });
    const rows: Row[] = pairs.flatMap((p) => {
      const e = encodePreference(tok, p.prompt, p.chosen, p.rejected, CONTEXT);
      return [e.chosen, e.rejected];
    });
    const longest = rows.reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    for (let L = 1; L <= longest.ids.length; L++) rows.push({ ids: longest.ids.slice(0, L), loss: [] });
    return rows;
  }

  beforeAll(async () => {
    const spec = join(tmp, 'spec', 'checkpoints.rlhf');
    mkdirSync(join(tmp, 'spec'));
    copyFileSync(join(ROOT, 'tests/interop/cases/checkpoints.rlhf'), spec);
    store = join(tmp, 'spec', 'store');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/rlhfc.mjs'), 'run', spec, '--store', store], { encoding: 'utf8', timeout: 600_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-3000)).toBe(0);
    const plan = compileFile(spec).plan!;
    for (const n of plan.nodes) if (n.category === 'stage') dirs[n.name] = join(store, 'nodes', n.hash, 'model');

    await initBackend('cpu');
    const ck = await fromCheckpoint(dirs['chat']);
    local.baseDir = ck.baseDir;
    const sentence = (loadCorpus('sentiment', { kind: 'text', promptWords: 4, seed: 0 }) as { text: string }[]).map((x) => x.text).join(' ');
    local.ids = ck.tokenizer!.encode(sentence).slice(0, CONTEXT);
    local.withLora = lastLogits(ck.model, local.ids);
    ck.model.mergeLora();
    local.merged = lastLogits(ck.model, local.ids);
    ck.model.dispose();
    for (const stage of ['rm', 'crm']) {
      const { model, tokenizer } = await fromCheckpoint(dirs[stage]);
      model.addHead('reward');
      const rows = rewardRows(tokenizer!);
      const b = collate(rows, tokenizer!.padId, { shift: false });
      const want = tf.tidy(() => Array.from(model.rewards(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T]), tf.tensor1d(b.lastIndex, 'int32')).dataSync()));
      model.dispose();
      local.rewards[stage] = { rows, want, eosId: tokenizer!.eosId };
    }

    // one Python process, started in another folder than the store's (PEFT resolves a relative base against it)
    const elsewhere = mkdtempSync(join(tmpdir(), 'rlhfc-cwd-'));
    try {
      got = pyJson(
        `import json, sys, torch, warnings
warnings.filterwarnings("ignore")
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from peft import AutoPeftModelForCausalLM, PeftModel
${PY_LAST_LOGITS}
adapter, ids, rewards = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
cfg = json.load(open(adapter + "/adapter_config.json"))
base = AutoModelForCausalLM.from_pretrained(cfg["base_model_name_or_path"]).eval()
out = {"base": last_logits(base, ids), "rewards": {}}
out["peft"] = last_logits(PeftModel.from_pretrained(base, adapter).eval(), ids)
out["auto"] = last_logits(AutoPeftModelForCausalLM.from_pretrained(adapter).eval(), ids)
for name, (folder, rows) in rewards.items():
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = tok.pad({"input_ids": rows}, return_tensors="pt")
    with torch.no_grad():
        scores = model(**batch).logits[:, 0].tolist()
        # what the folder said before: padding = end-of-text, so the scored end-of-text looked like padding
        model.config.pad_token_id = tok.eos_token_id
        T = max(map(len, rows))
        eos_ids = torch.tensor([r + [tok.eos_token_id] * (T - len(r)) for r in rows])
        eos_padded = model(input_ids=eos_ids, attention_mask=batch["attention_mask"]).logits[:, 0].tolist()
    cfg_pad = json.load(open(folder + "/config.json"))["pad_token_id"]
    out["rewards"][name] = {"scores": scores, "eosPadded": eos_padded, "side": tok.padding_side, "pad": tok.pad_token_id, "cfgPad": cfg_pad}
print(json.dumps(out))`,
        { cwd: elsewhere, args: [dirs['chat'], JSON.stringify(local.ids), JSON.stringify(Object.fromEntries(Object.entries(local.rewards).map(([k, v]) => [k, [dirs[k], v.rows.map((x) => x.ids)]])))] },
      );
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 900_000);

  it('a LoRA adapter opens with PeftModel.from_pretrained and AutoPeftModelForCausalLM from another folder, logits = rlhfc\'s merged model at every length', () => {
    const cfg = JSON.parse(readFileSync(join(dirs['chat'], 'adapter_config.json'), 'utf8'));
    expect(cfg.base_model_name_or_path).toBe(dirs['base']);
    expect(local.baseDir).toBe(dirs['base']);
    expect(local.ids.length).toBe(CONTEXT);
    expect(maxDiff(got.peft, local.merged)).toBeLessThan(1e-4);
    expect(maxDiff(got.auto, local.merged)).toBeLessThan(1e-4);
    expect(maxDiff(local.withLora, local.merged)).toBeLessThan(1e-4);
    expect(maxDiff(got.base, local.merged), 'the adapter changes the logits').toBeGreaterThan(1e-3);
  });

  for (const [stage, what] of [
    ['rm', 'a BPE tokenizer'],
    ['crm', 'a character tokenizer'],
  ] as const) {
    it(`a reward model on ${what} scores a padded batch of real pairs (and every length) as rlhfc does, padded by its own tokenizer`, () => {
      const { rows, want, eosId } = local.rewards[stage];
      const g = got.rewards[stage];
      expect(Math.max(...rows.map((r) => r.ids.length))).toBe(CONTEXT);
      expect(rows.filter((r) => r.ids[r.ids.length - 1] === eosId).length).toBeGreaterThan(10); // rlhfc scores the end-of-text
      expect(g.side).toBe('right');
      expect(g.pad).toBe(g.cfgPad);
      expect(g.pad).not.toBe(eosId);
      g.scores.forEach((x, i) => expect(Math.abs(x - want[i]), `row ${i} (${rows[i].ids.length} tokens): transformers ${x} vs rlhfc ${want[i]}`).toBeLessThan(1e-4));
      expect(Math.max(...g.eosPadded.map((x, i) => Math.abs(x - want[i]))), 'padding with end-of-text would score another token').toBeGreaterThan(1e-3);
    });
  }

  it('after the store moves, rlhfc still opens the adapter (its base found in the moved store)', async () => {
    const moved = join(tmp, 'moved-store');
    renameSync(store, moved);
    try {
      const { model, baseDir } = await fromCheckpoint(dirs['chat'].replace(store, moved));
      model.dispose();
      expect(baseDir).toBe(dirs['base'].replace(store, moved));
    } finally {
      renameSync(moved, store);
    }
  });
});
