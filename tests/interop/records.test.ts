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
import { loadDataset, splitDataset } from '../../runtime/data/index.ts';
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
    const { sentimentSentences } = await import('../../runtime/data/corpora.ts');
    writeHfTiny(join(specDir, 'hf-tiny'), sentimentSentences().map((s) => s.text));
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
    expect(Object.keys(steps).sort()).toEqual(['chat', 'pref', 'qa', 'rm']);
    execFileSync(PYTHON, ['-', JSON.stringify(steps)], { input: DRIVER, cwd: out, env: pyEnv({ PYTHONPATH: out }), stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
    for (const name of Object.keys(steps)) got[name] = readJsonl(join(out, 'received', `${name}.jsonl`)) as Record<string, number[]>[];
    tok = await loadTokenizer(join(specDir, 'hf-tiny'));
  }, 900_000);

  /** The local runtime's train split of a stage's dataset, with the smoke plan's parameters. */
  async function localTrain(stage: PlanNode) {
    const binding = stage.inputs['data'];
    const d = plan.nodes.find((n) => n.id === binding.node)!;
    const records = await loadDataset({ source: d.kind, args: [d.params['name']], params: d.params, kind: d.datasetKind as 'text' }, join(tmp, 'spec'));
    const split = d.params['split'] as { validation: number; seed: number };
    return splitDataset(records, { validation: split.validation, seed: split.seed }).train as unknown as Record<string, string>[];
  }
  const stage = (name: string) => plan.nodes.find((n) => n.name === name)!;

  it('SFT: every training record, through the template, gives rlhfc\'s token ids and loss positions (completion only, and not)', async () => {
    for (const name of ['chat', 'qa']) {
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
    const n = stage('rm');
    const maxLen = Number(n.params['max_seq_length']);
    const pairs = (await localTrain(n)).map((r) => encodePreference(tok, r['prompt'], r['chosen'], r['rejected'], 1_000_000));
    const kept = pairs.filter((pr) => pr.chosen.ids.length <= maxLen && pr.rejected.ids.length <= maxLen);
    expect(kept.length).toBeLessThan(pairs.length); // the smoke records include pairs that are too long: the filter is exercised
    expect(got['rm'].map((r) => [r['chosen_ids'], r['rejected_ids']])).toEqual(kept.map((pr) => [pr.chosen.ids, pr.rejected.ids]));
  });

  it('DPO: every pair gives rlhfc\'s prompt and response ids (before truncation, which the collator applies)', async () => {
    const n = stage('pref');
    const recs = await localTrain(n);
    const g = got['pref'];
    expect(g.length).toBe(recs.length);
    recs.forEach((r, i) => {
      const full = encodePreference(tok, r['prompt'], r['chosen'], r['rejected'], 1_000_000);
      expect([...g[i]['prompt_ids'], ...g[i]['chosen_ids']], `pref[${i}] chosen`).toEqual(full.chosen.ids);
      expect([...g[i]['prompt_ids'], ...g[i]['rejected_ids']], `pref[${i}] rejected`).toEqual(full.rejected.ids);
    });
  });
});
