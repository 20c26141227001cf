// The records each TRL trainer receives, after the export's splits, templates and field mappings
// and TRL's own tokenization, equal the local runtime's rows (cases/records.rlhf, exported with
// --smoke): every stage script runs for real (`python stages/<name>.py` with run.sh's arguments) up
// to `trainer.train()`, where the trainer's train_dataset is taken instead of training. Both sides
// use the one tokenizer of the hf("./hf-tiny") folder, so token ids are compared one for one.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Plan, PlanNode } from '../../core/plan-types.ts';
import { splitDataset } from '../../runtime/data/index.ts';
import { DATASET_SOURCES, loadDataset } from '../../runtime/sources/index.ts';
import { encodePreference, encodeSft } from '../../runtime/train/examples.ts';
import { loadTokenizer, type Tokenizer } from '../../runtime/tokenizers/index.ts';
import { describeInterop, py, PYTHON, pyEnv, ROOT } from './python.ts';
import { exportSmoke, readJsonl } from './smoke-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-records-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny GPT-2 folder as transformers writes it, with a byte-level BPE trained by `tokenizers` on the review sentences. */
function writeHfTiny(dir: string, texts: string[]): void {
  const file = join(tmp, 'texts.json');
  writeFileSync(file, JSON.stringify(texts));
  py(
    `import sys, json
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(json.load(open(sys.argv[2])), trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)).save_pretrained(sys.argv[1])
fast.save_pretrained(sys.argv[1])`,
    { args: [dir, file] },
  );
}

/** Runs each stage script with run.sh's arguments; `Trainer.train` writes the train_dataset's token columns instead of training. */
const DRIVER = `import json, os, runpy, sys, warnings
warnings.filterwarnings("ignore")
import transformers
class Received(Exception):
    pass
def received(self, *args, **kwargs):
    ds = self.train_dataset
    cols = [c for c in ds.column_names if c.endswith("_ids") or c.endswith("_mask") or c == "labels"]
    with open(os.environ["RLHFC_RECEIVED"], "w") as f:
        for r in ds:
            f.write(json.dumps({c: r[c] for c in cols}) + "\\n")
    raise Received()
transformers.Trainer.train = received
sys.path.insert(0, os.getcwd())
for name, argv in json.loads(sys.argv[1]).items():
    os.environ["RLHFC_RECEIVED"] = os.path.join("received", name + ".jsonl")
    sys.argv = argv
    try:
        runpy.run_path(argv[0], run_name="__main__")
        raise SystemExit(f"{name}: trainer.train() was never called")
    except Received:
        pass
`;

describeInterop('interop: the records TRL\'s trainers receive equal the local runtime\'s', () => {
  let plan: Plan;
  let out: string;
  let tok: Tokenizer;
  const got: Record<string, Record<string, number[]>[]> = {};

  beforeAll(async () => {
    const specDir = join(tmp, 'spec');
    mkdirSync(specDir);
    copyFileSync(join(ROOT, 'tests/interop/cases/records.rlhf'), join(specDir, 'records.rlhf'));
    const { sentimentSentences } = await import('../../runtime/sources/dataset-corpus.ts');
    const sentences = sentimentSentences().map((s) => s.text);
    writeHfTiny(join(specDir, 'hf-tiny'), sentences);
    const qa = sentences.slice(0, 60).map((t) => {
      const words = t.split(/\s+/);
      return JSON.stringify({ question: { text: `What comes after "${words.slice(0, 3).join(' ')}"?` }, answer: words.slice(3).join(' ') });
    });
    writeFileSync(join(specDir, 'asks.jsonl'), qa.join('\n') + '\n');
    const good = sentimentSentences().filter((x) => x.positive).map((x) => x.text);
    const bad = sentimentSentences().filter((x) => !x.positive).map((x) => x.text);
    // prompts end without a space: RewardTrainer and DPOTrainer tokenize prompt + response as one text (the mapping's note)
    const ranked = good.slice(0, 60).map((g, i) => JSON.stringify({ prompt: i % 3 ? 'Write a review of the product.\nReview:' : `Continue "${bad[i + 100]}" with a review:`, chosen: ` ${g}`, rejected: i % 2 ? ` ${bad[i]}` : `\n${bad[i]}` }));
    writeFileSync(join(specDir, 'ranked.jsonl'), ranked.join('\n') + '\n');
    out = join(tmp, 'project');
    plan = exportSmoke(join(specDir, 'records.rlhf'), out);
    execFileSync(PYTHON, ['prepare_data.py'], { cwd: out, env: pyEnv(), stdio: 'pipe' });
    mkdirSync(join(out, 'received'));
    const steps = Object.fromEntries(
      readFileSync(join(out, 'run.sh'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('step ') && l.includes('"${LAUNCH[@]}"'))
        .map((l) => {
          const words = l.split(' ');
          return [words[1], words.slice(words.indexOf('"${LAUNCH[@]}"') + 1).map((w) => w.replace(/^"|"$/g, ''))];
        }),
    );
    expect(Object.keys(steps).sort()).toEqual(['ans', 'chat', 'pref', 'prefp', 'qa', 'rm', 'rmp']);
    execFileSync(PYTHON, ['-', JSON.stringify(steps)], { input: DRIVER, cwd: out, env: pyEnv({ PYTHONPATH: out }), stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
    for (const name of Object.keys(steps)) got[name] = readJsonl(join(out, 'received', `${name}.jsonl`)) as Record<string, number[]>[];
    tok = await loadTokenizer(join(specDir, 'hf-tiny'));
  }, 900_000);

  /** The local runtime's train split of a stage's dataset, with the smoke plan's parameters. */
  async function localTrain(stage: PlanNode) {
    const binding = stage.inputs['data'];
    const d = plan.nodes.find((n) => n.id === binding.node)!;
    const args = (DATASET_SOURCES[d.kind]?.args ?? []).map((a) => d.params[a.name]); // as runtime/nodes.ts
    const records = await loadDataset({ source: d.kind, args, params: d.params, kind: d.datasetKind as 'text' }, join(tmp, 'spec'));
    const split = d.params['split'] as { validation: number; seed: number };
    return splitDataset(records, { validation: split.validation, seed: split.seed }).train as unknown as Record<string, string>[];
  }
  const stage = (name: string) => plan.nodes.find((n) => n.name === name)!;

  it('SFT: every training record, through field mappings and the template, gives rlhfc\'s token ids and loss positions (completion only and not; a prompt part ending in a space)', async () => {
    for (const name of ['chat', 'qa', 'ans']) {
      const n = stage(name);
      const p = n.params as Record<string, unknown>;
      const rows = (await localTrain(n)).map((r) => encodeSft(tok, String(p['template']), r['prompt'], r['response'], Number(p['max_seq_length']), Boolean(p['completion_only'])));
      const g = got[name];
      expect(g.length, `${name}: records`).toBe(rows.length);
      rows.forEach((row, i) => {
        expect(g[i]['input_ids'], `${name}[${i}]: ids`).toEqual(row.ids);
        // position 0 is never a target (nothing before it predicts it)
        expect(g[i]['labels'].map((l, t) => (t > 0 && l !== -100 ? 1 : 0)), `${name}[${i}]: loss positions`).toEqual(row.loss);
      });
      expect(rows.some((r) => r.loss.includes(0) && r.loss.slice(1).includes(1)) || !p['completion_only']).toBe(true);
    }
  });

  it('reward: the pairs RewardTrainer keeps are rlhfc\'s pairs, token for token (it drops the pairs longer than max_seq_length that rlhfc truncates)', async () => {
    for (const name of ['rm', 'rmp']) {
      const n = stage(name);
      const maxLen = Number(n.params['max_seq_length']);
      const pairs = (await localTrain(n)).map((r) => encodePreference(tok, r['prompt'], r['chosen'], r['rejected'], 1_000_000));
      const kept = pairs.filter((pr) => pr.chosen.ids.length <= maxLen && pr.rejected.ids.length <= maxLen);
      expect(kept.length, name).toBeLessThan(pairs.length); // the smoke records include pairs that are too long: the filter is exercised
      expect(kept.length, name).toBeGreaterThan(0);
      expect(got[name].map((r) => [r['chosen_ids'], r['rejected_ids']]), name).toEqual(kept.map((pr) => [pr.chosen.ids, pr.rejected.ids]));
    }
  });

  it('DPO: every pair gives rlhfc\'s prompt and response ids (before truncation, which the collator applies)', async () => {
    for (const name of ['pref', 'prefp']) {
      const n = stage(name);
      const maxPrompt = Number(n.params['max_prompt_length']);
      const recs = await localTrain(n);
      const g = got[name];
      expect(g.length, name).toBe(recs.length);
      recs.forEach((r, i) => {
        const full = encodePreference(tok, r['prompt'], r['chosen'], r['rejected'], 1_000_000);
        const promptIds = tok.encode(r['prompt']).slice(-maxPrompt); // the prompt keeps its last max_prompt_length tokens
        expect(g[i]['prompt_ids'], `${name}[${i}] prompt`).toEqual(promptIds);
        expect([...tok.encode(r['prompt']), ...g[i]['chosen_ids']], `${name}[${i}] chosen`).toEqual(full.chosen.ids);
        expect([...tok.encode(r['prompt']), ...g[i]['rejected_ids']], `${name}[${i}] rejected`).toEqual(full.rejected.ids);
      });
      if (name === 'prefp') expect(recs.some((r) => tok.encode(r['prompt']).length > maxPrompt)).toBe(true); // prompts are cut
    }
  });
});
