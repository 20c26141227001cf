// One spec covering every stage kind and option family (cases/coverage.rlhf), exported with
// --smoke and run with the real libraries on CPU; then an SFT stage and the PPO stage again with
// `accelerate launch` on two CPU processes (gloo). Checked on what the trainers did (trainer.json,
// metrics.jsonl): rollout size, mini-batches and updates of PPO for 1 and 2 processes; effective
// batch and step count of SFT / reward / DPO equal to rlhfc's; the prompts PPO sampled equal the
// local runtime's prompt order.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { shuffle } from '../../runtime/data/split.ts';
import { describeSmoke, py } from './python.ts';
import { checkStages, cpu2Env, exportSmoke, readJsonl, runSh, runStep } from './smoke-helpers.ts';
import type { Plan } from '../../core/plan-types.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-coverage-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny GPT-2 folder as transformers writes it, with a byte-level BPE tokenizer trained on real text. */
function writeHfTiny(dir: string): void {
  py(`import sys, json
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
import torch
texts = [json.loads(l)["text"] for l in open(sys.argv[2], encoding="utf-8")][:200]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=32, n_layer=1, n_head=2, bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id))
model.save_pretrained(sys.argv[1])
fast.save_pretrained(sys.argv[1])`, { args: [dir, join(tmp, 'texts.jsonl')] });
}

describeSmoke('interop: every stage kind and option family at smoke scale', () => {
  let plan: Plan;
  let out: string;

  it('runs end to end with one process, and a second run.sh skips every finished step', { timeout: 900_000 }, async () => {
    const { loadCorpus } = await import('../../runtime/sources/dataset-corpus.ts');
    const texts = loadCorpus('sentiment', { kind: 'text', promptWords: 4, seed: 0 }) as { text: string }[];
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(tmp, 'texts.jsonl'), texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
    const specDir = join(tmp, 'spec');
    mkdirSync(specDir, { recursive: true });
    copyFileSync('tests/interop/cases/coverage.rlhf', join(specDir, 'coverage.rlhf'));
    copyFileSync('tests/interop/cases/rewards.ts', join(specDir, 'rewards.ts'));
    process.env['RLHF_TSX_FROM'] = process.cwd(); // fn() rewards: tsx from this checkout's node_modules
    writeHfTiny(join(specDir, 'hf-tiny'));
    out = join(tmp, 'project');
    plan = exportSmoke(join(specDir, 'coverage.rlhf'), out);
    const first = runSh(out);
    process.stderr.write(`smoke coverage.rlhf: run.sh ${first.seconds.toFixed(0)} s\n`);
    expect(first.status, first.log.slice(-4000)).toBe(0);
    checkStages(plan, out);
    const second = runSh(out);
    expect(second.status).toBe(0);
    const ran = [...second.log.matchAll(/^== (\S+)$/gm)].map((m) => m[1]);
    expect(ran, 'steps run again').toEqual([]);
    expect([...second.log.matchAll(/^== (\S+): finished, skipping/gm)].length).toBe(plan.nodes.filter((n) => n.category === 'stage').length + 2);
  });

  it('SFT, reward and DPO: effective batch = batch_size × grad_accum and steps = max_steps, every training record used', () => {
    for (const n of plan.nodes.filter((x) => ['sft', 'reward', 'dpo', 'pretrain'].includes(x.kind))) {
      const facts = JSON.parse(readFileSync(join(out, 'outputs', n.name, 'trainer.json'), 'utf8'));
      const p = n.params as Record<string, number>;
      expect(facts.effective_batch_size, n.name).toBe(p['batch_size'] * p['grad_accum']);
      expect(facts.global_step, n.name).toBe(p['max_steps']);
      if (n.kind !== 'pretrain') {
        const data = Object.values(n.inputs).find((b) => b.node.startsWith('dataset:') || b.output === 'data')!;
        const folder = data.node.startsWith('dataset:') ? join(out, 'data', data.node.slice(8)) : join(out, 'outputs', data.node.slice(6));
        const records = readJsonl(join(folder, 'train.jsonl')).length;
        // Known difference (the mapping's note for reward.max_seq_length): TRL's RewardTrainer drops
        // pairs longer than max_length where rlhfc truncates them; every other trainer keeps them all.
        if (n.kind === 'reward') expect(facts.train_records, `${n.name}: records the trainer kept`).toBeLessThanOrEqual(records);
        else expect(facts.train_records, `${n.name}: records the trainer kept`).toBe(records);
        expect(facts.train_records).toBeGreaterThan(0);
      }
    }
  });

  const ppoSemantics = (name: string, dir: string, processes: number) => {
    const n = plan.nodes.find((x) => x.name === name)!;
    const p = n.params as Record<string, number>;
    const rows = readJsonl(join(dir, 'metrics.jsonl'));
    expect(rows.length).toBe(p['steps']);
    const prompts = readJsonl(join(out, 'data', 'starts', 'train.jsonl')).map((r) => String(r['prompt'] ?? ''));
    // the local runtime's order: a seeded shuffle per pass over the prompts
    const order: string[] = [];
    for (let e = 0; order.length < p['steps'] * p['batch_size']; e++) order.push(...shuffle(prompts, `${plan.seed}:${n.id}:${e}`));
    rows.forEach((r, i) => {
      expect(r['processes']).toBe(processes);
      expect(r['rollout'], 'responses per step').toBe(p['batch_size']);
      expect(r['updates'], 'optimizer updates per step').toBe(p['ppo_epochs'] * (p['batch_size'] / p['mini_batch_size']));
      expect(r['prompts'], `step ${i + 1}: the prompts sampled`).toEqual(order.slice(i * p['batch_size'], (i + 1) * p['batch_size']));
    });
  };

  /** GRPO / RLOO / KTO: the constructed trainer's settings equal rlhfc's (trainer.json holds its config). */
  const groupSemantics = (name: string, dir: string, processes: number) => {
    const n = plan.nodes.find((x) => x.name === name)!;
    const p = n.params as Record<string, number & string & boolean & number[]>;
    const facts = JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8'));
    const updates = (p['batch_size'] / p['mini_batch_size']) * p['num_iterations'];
    expect(facts.processes).toBe(processes);
    expect(facts.global_step, 'optimizer steps').toBe(p['steps'] * updates);
    expect(facts.max_steps).toBe(p['steps'] * updates);
    expect(facts.num_generations, 'group size').toBe(p['num_generations']);
    expect(facts.generation_batch_size, 'answers per generation step').toBe(p['batch_size']);
    expect(facts.per_device_train_batch_size * processes * facts.gradient_accumulation_steps, 'answers per update').toBe(p['mini_batch_size']);
    expect(facts.steps_per_generation, 'updates per generation').toBe(p['batch_size'] / p['mini_batch_size']);
    expect(facts.num_iterations).toBe(p['num_iterations']);
    expect(facts.beta).toBeCloseTo(p['beta'], 12);
    expect(facts.epsilon).toBeCloseTo(p['epsilon'], 12);
    expect(facts.epsilon_high ?? facts.epsilon).toBeCloseTo(p['epsilon_high'] || p['epsilon'], 12);
    expect(facts.mask_truncated_completions).toBe(p['mask_truncated_completions']);
    expect(facts.max_completion_length).toBe((n.params['generation'] as Record<string, number>)['max_new_tokens']);
    expect(facts.reward_weights ?? []).toEqual(p['reward_weights']);
    if (n.kind === 'grpo') {
      expect(facts.loss_type).toBe(p['loss_type']);
      expect(facts.scale_rewards).toBe(p['scale_rewards']);
    } else expect(facts.normalize_advantages).toBe(p['normalize_advantages']);
    const rows = readJsonl(join(dir, 'metrics.jsonl')).filter((r) => 'reward' in r);
    expect(rows.length, 'logged steps').toBeGreaterThan(0);
    for (const r of rows) expect(Number.isFinite(r['reward'] as number)).toBe(true);
  };

  it('GRPO and RLOO with one process: group size, generation batch, updates, beta, epsilon, loss_type as rlhfc; KTO: beta and weights', () => {
    groupSemantics('gr', join(out, 'outputs/gr'), 1);
    groupSemantics('loo', join(out, 'outputs/loo'), 1);
    const k = plan.nodes.find((x) => x.name === 'thumbs_kto')!;
    const facts = JSON.parse(readFileSync(join(out, 'outputs/thumbs_kto/trainer.json'), 'utf8'));
    expect(facts.beta).toBeCloseTo(k.params['beta'] as number, 12);
    expect(facts.desirable_weight).toBeCloseTo(k.params['desirable_weight'] as number, 12);
    expect(facts.undesirable_weight).toBeCloseTo(k.params['undesirable_weight'] as number, 12);
    expect(facts.max_length).toBe(k.params['max_seq_length']);
    expect(facts.global_step).toBe(k.params['max_steps']);
    expect(facts.effective_batch_size).toBe(k.params['batch_size']);
  });

  it('PPO with one process: rollout, updates and prompts as rlhfc', () => {
    ppoSemantics('rl', join(out, 'outputs/rl'), 1);
    ppoSemantics('rlj', join(out, 'outputs/rlj'), 1);
  });

  it('accelerate launch on two CPU processes: an SFT stage and the PPO stage keep rlhfc\'s batch semantics', { timeout: 600_000 }, () => {
    const env = cpu2Env(tmp);
    const sft = runStep(out, 'chatl', join(out, 'outputs2/chatl'), env);
    expect(sft.status, sft.log.slice(-3000)).toBe(0);
    const facts = JSON.parse(readFileSync(join(out, 'outputs2/chatl/trainer.json'), 'utf8'));
    expect(facts.processes).toBe(2);
    expect(facts.per_device_train_batch_size).toBe(2);
    expect(facts.effective_batch_size).toBe(4);
    expect(facts.global_step).toBe(2);
    const ppo = runStep(out, 'rl', join(out, 'outputs2/rl'), env);
    expect(ppo.status, ppo.log.slice(-3000)).toBe(0);
    process.stderr.write(`two processes: sft ${sft.seconds.toFixed(0)} s, ppo ${ppo.seconds.toFixed(0)} s\n`);
    ppoSemantics('rl', join(out, 'outputs2/rl'), 2);
    const gr = runStep(out, 'gr', join(out, 'outputs2/gr'), env);
    expect(gr.status, gr.log.slice(-3000)).toBe(0);
    groupSemantics('gr', join(out, 'outputs2/gr'), 2);
    const kt = runStep(out, 'thumbs_kto', join(out, 'outputs2/thumbs_kto'), env);
    expect(kt.status, kt.log.slice(-3000)).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'outputs2/thumbs_kto/trainer.json'), 'utf8')).processes).toBe(2);
  });
});
