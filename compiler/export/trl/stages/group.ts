// What the group-RL stages (grpo, rloo) share in the TRL export: the rows of their shared
// parameters (runtime/stages/common.ts groupRLParams) and the script around the trainer — policy,
// prompts truncated from the left, one TRL reward function per reward source.
//
// Counting: rlhfc's `steps` are generation steps of `batch_size` answers, each optimised in
// batch_size / mini_batch_size updates, num_iterations times; TRL counts optimizer steps, so
// max_steps = steps × batch_size / mini_batch_size × num_iterations, with generation_batch_size =
// batch_size (global) and a per-device batch of mini_batch_size / processes (no accumulation).

import type { ParamsOf, Value } from '../../../../core/schema.ts';
import { chatTemplate, health, lora, optimizer, rowsOf, usesChat, type Row, type StageClasses } from '../rows.ts';
import type { groupRLParams } from '../../../../runtime/stages/common.ts';
import { pyLit } from '../py.ts';
import type { StageWriter } from '../writer.ts';

/** The parameters grpo and rloo share (runtime/stages/common.ts groupRLParams), and their clip-higher. */
type GroupParams = ParamsOf<ReturnType<typeof groupRLParams>> & { epsilon_high: number };
const row = rowsOf<GroupParams>();

/** Optimizer steps per generation step. */
const updatesPerStep = (p: GroupParams) => (p.batch_size / p.mini_batch_size) * p.num_iterations;

export const groupRows: Row[] = [
  chatTemplate,
  row((p) => p.reward_weights, { into: 'config', fields: ['reward_weights'], value: (v) => ({ reward_weights: v.length ? v : null }), note: 'empty: every source weighs 1, as TRL\'s None' }),
  row((p) => p.steps, {
    into: 'config',
    fields: ['max_steps'],
    value: (v, p) => ({ max_steps: v * updatesPerStep(p) }),
    note: 'TRL counts optimizer steps: steps × batch_size / mini_batch_size × num_iterations',
  }),
  row((p) => p.batch_size, { into: 'config', fields: ['generation_batch_size'], note: 'answers per generation step, global, as rlhfc' }),
  row((p) => p.num_generations, { into: 'config', fields: ['num_generations'] }),
  row((p) => p.mini_batch_size, {
    into: 'config',
    fields: ['per_device_train_batch_size', 'gradient_accumulation_steps'],
    value: (v) => ({ per_device_train_batch_size: { expr: `common.per_process(${v})` }, gradient_accumulation_steps: 1 }),
    note: 'global answers per update: each of P processes gets mini_batch_size / P',
  }),
  row((p) => p.num_iterations, { into: 'config', fields: ['num_iterations'] }),
  row((p) => p.mask_truncated_completions, { into: 'config', fields: ['mask_truncated_completions'] }),
  row((p) => p.max_prompt_length, { script: 'prompts are truncated from the left to this many tokens before the trainer sees them (TRL 1.13 has no max_prompt_length); reward functions then get the truncated prompt' }),
  row((p) => p.generation.max_new_tokens, { into: 'config', fields: ['max_completion_length'] }),
  row((p) => p.generation.min_new_tokens, {
    into: 'config',
    fields: ['generation_kwargs'],
    value: (v) => ({ generation_kwargs: v > 0 ? { min_new_tokens: v } : null }),
  }),
  row((p) => p.generation.temperature, { into: 'config', fields: ['temperature'] }),
  row((p) => p.generation.top_k, { into: 'config', fields: ['top_k'] }),
  row((p) => p.generation.top_p, { into: 'config', fields: ['top_p'] }),
  ...lora,
  ...optimizer,
  row((p) => p.log_every, {
    into: 'config',
    fields: ['logging_steps'],
    value: (v, p) => ({ logging_steps: v * updatesPerStep(p) }),
    note: 'in optimizer steps: log_every × updates per generation step',
  }),
  row((p) => p.checkpoint_every, {
    into: 'config',
    fields: ['save_strategy', 'save_steps'],
    value: (v, p) => (v > 0 ? { save_strategy: 'steps', save_steps: v * updatesPerStep(p) } : { save_strategy: 'no' }),
    note: 'N > 0: a checkpoint every N generation steps; 0 (locally: every 2 minutes): none',
  }),
  row((p) => p.samples, {
    into: 'config',
    fields: ['log_completions', 'num_completions_to_print'],
    value: (v) => ({ log_completions: v > 0, num_completions_to_print: v > 0 ? v : null }),
  }),
  row((p) => p.length.overlong_cache, { script: 'N > 0: one more reward function, TRL\'s own `get_soft_overlong_punishment(max_completion_len=max_new_tokens, soft_punish_cache=N)`, weighted by length.overlong_weight' }),
  row((p) => p.length.overlong_weight, { script: 'its entry in reward_weights' }),
  row((p) => p.length.floor, { script: 'N > 0: one more reward function (`rlhf_export.judges.short_floor(N)`), weighted by length.floor_weight' }),
  row((p) => p.length.floor_weight, { script: 'its entry in reward_weights' }),
  ...health,
];

/** `epsilon_high` 0 means "the same as epsilon" in rlhfc, None in TRL. */
export const epsilonHigh: Row = row((p) => p.epsilon_high, {
  into: 'config',
  fields: ['epsilon_high'],
  value: (v) => ({ epsilon_high: v > 0 ? v : null }),
  note: '0 (rlhfc) = None (TRL): the same as epsilon',
});

/** The script of a group-RL stage: policy, prompts, reward functions, config, trainer. */
export function emitGroup(w: StageWriter, classes: StageClasses): void {
  const n = w.n;
  w.argFor('policy', `policy to optimise: ${w.describe('policy')}`);
  w.argFor('prompts', `prompts: ${w.describe('prompts')}`);
  const rewardKeys = Object.keys(n.inputs)
    .filter((k) => k.startsWith('rewards['))
    .sort((a, b) => Number(a.slice(8, -1)) - Number(b.slice(8, -1)));
  const folders = rewardKeys.filter((k) => w.res[k]?.kind === 'folder');
  if (folders.length) w.args.push(`parser.add_argument("--rewards", nargs="+", required=True, help=${pyLit(`reward models: ${folders.map((k) => w.describe(k)).join(', ')}`)})`);
  w.use('rlhf_export', 'judges');
  w.add(...w.model('policy', 'policy', w.res['policy'], 'lm'));
  w.add('train, _ = common.load_split(args.prompts)  # the prompts and their records\' other fields (reward functions receive them)');
  if (usesChat(w.p)) {
    w.add('# chat_template: conversational prompts (one user turn), which the trainer renders with the chat template and its generation prompt, as rlhfc');
    w.add('train = train.map(lambda r: common.conversational(r, ()))');
  } else {
    w.add(`MAX_PROMPT_LENGTH = ${pyLit(w.p['max_prompt_length'])}  # max_prompt_length: prompts keep their last tokens`);
    w.add('train = train.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))');
  }
  w.add('# rewards: one TRL reward function per source, summed with reward_weights');
  w.add('reward_funcs = [');
  let j = 0;
  for (const [i, k] of rewardKeys.entries()) {
    const r = w.res[k];
    const judge = r?.kind === 'folder' ? `judges.reward_model(args.rewards[${j++}])` : r?.kind === 'judge' ? r.code : 'None';
    w.add(`    judges.reward_func(${judge}, "rewards_${i}"),  # ${k}: ${w.describe(k)}`);
  }
  w.add(']');
  // length shaping: one more reward function per penalty that is on, with its weight
  const block = w.p['length'];
  const length = block && typeof block === 'object' && !Array.isArray(block) ? block : {};
  const gen = w.p['generation'];
  const maxNew = gen && typeof gen === 'object' && !Array.isArray(gen) ? gen['max_new_tokens'] : undefined;
  const shaping: [string, Value | undefined][] = [];
  if (Number(length['overlong_cache']) > 0) shaping.push([`judges.soft_overlong(${pyLit(maxNew ?? null)}, ${pyLit(length['overlong_cache'])})`, length['overlong_weight']]);
  if (Number(length['floor']) > 0) shaping.push([`judges.short_floor(${pyLit(length['floor'])})`, length['floor_weight']]);
  if (shaping.length) {
    w.add('# length shaping (length { ... }): rewards of answer length alone, added to the weighted sum');
    w.add(`N_SOURCES = len(reward_funcs)`);
    for (const [f] of shaping) w.add(`reward_funcs.append(${f})`);
  }
  w.add(`config = ${w.configCall(classes, [{ name: 'shuffle_dataset', value: true, comment: 'prompts in a seeded random order, as rlhfc' }])}`);
  if (shaping.length) w.add(`config.reward_weights = list(config.reward_weights or [1.0] * N_SOURCES) + ${pyLit(shaping.map(([, wt]) => wt ?? 1))}  # length.*_weight`);
  w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
  w.trainer('trl', classes.trainer!, ['model=policy', 'reward_funcs=reward_funcs', 'args=config', 'train_dataset=train', 'processing_class=tokenizer', 'peft_config=peft_config'], { evaluate: false });
}
