// What the group-RL stages (grpo, rloo) share in the TRL export: the rows of their shared
// parameters (runtime/stages/common.ts groupRLParams) and the script around the trainer — policy,
// prompts truncated from the left, one TRL reward function per reward source.
//
// Counting: rlhfc's `steps` are generation steps of `batch_size` answers, each optimised in
// batch_size / mini_batch_size updates, num_iterations times; TRL counts optimizer steps, so
// max_steps = steps × batch_size / mini_batch_size × num_iterations, with generation_batch_size =
// batch_size (global) and a per-device batch of mini_batch_size / processes (no accumulation).

import type { ResolvedParams, Value } from '../../../../core/schema.ts';
import { chatTemplate, lora, optimizer, type Row, type StageClasses } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageWriter } from '../writer.ts';

/** Optimizer steps per generation step. */
const updatesPerStep = (p: ResolvedParams) => ((p['batch_size'] as number) / (p['mini_batch_size'] as number)) * (p['num_iterations'] as number);

export const groupRows: Row[] = [
  chatTemplate,
  { param: 'reward_weights', into: 'config', fields: ['reward_weights'], value: (v) => ({ reward_weights: (v as number[]).length ? v : null }), note: 'empty: every source weighs 1, as TRL\'s None' },
  {
    param: 'steps',
    into: 'config',
    fields: ['max_steps'],
    value: (v, p) => ({ max_steps: (v as number) * updatesPerStep(p) }),
    note: 'TRL counts optimizer steps: steps × batch_size / mini_batch_size × num_iterations',
  },
  { param: 'batch_size', into: 'config', fields: ['generation_batch_size'], note: 'answers per generation step, global, as rlhfc' },
  { param: 'num_generations', into: 'config', fields: ['num_generations'] },
  {
    param: 'mini_batch_size',
    into: 'config',
    fields: ['per_device_train_batch_size', 'gradient_accumulation_steps'],
    value: (v) => ({ per_device_train_batch_size: { expr: `common.per_process(${v})` }, gradient_accumulation_steps: 1 }),
    note: 'global answers per update: each of P processes gets mini_batch_size / P',
  },
  { param: 'num_iterations', into: 'config', fields: ['num_iterations'] },
  { param: 'mask_truncated_completions', into: 'config', fields: ['mask_truncated_completions'] },
  { param: 'max_prompt_length', script: 'prompts are truncated from the left to this many tokens before the trainer sees them (TRL 1.13 has no max_prompt_length); reward functions then get the truncated prompt' },
  { param: 'generation.max_new_tokens', into: 'config', fields: ['max_completion_length'] },
  {
    param: 'generation.min_new_tokens',
    into: 'config',
    fields: ['generation_kwargs'],
    value: (v) => ({ generation_kwargs: (v as number) > 0 ? { min_new_tokens: v } : null }),
  },
  { param: 'generation.temperature', into: 'config', fields: ['temperature'] },
  { param: 'generation.top_k', into: 'config', fields: ['top_k'] },
  { param: 'generation.top_p', into: 'config', fields: ['top_p'] },
  ...lora,
  ...optimizer,
  {
    param: 'log_every',
    into: 'config',
    fields: ['logging_steps'],
    value: (v, p) => ({ logging_steps: (v as number) * updatesPerStep(p) }),
    note: 'in optimizer steps: log_every × updates per generation step',
  },
  {
    param: 'checkpoint_every',
    into: 'config',
    fields: ['save_strategy', 'save_steps'],
    value: (v, p) => ((v as number) > 0 ? { save_strategy: 'steps', save_steps: (v as number) * updatesPerStep(p) } : { save_strategy: 'no' }),
    note: 'N > 0: a checkpoint every N generation steps; 0 (locally: every 2 minutes): none',
  },
  {
    param: 'samples',
    into: 'config',
    fields: ['log_completions', 'num_completions_to_print'],
    value: (v) => ({ log_completions: (v as number) > 0, num_completions_to_print: (v as number) > 0 ? v : null }),
  },
];

/** `epsilon_high` 0 means "the same as epsilon" in rlhfc, None in TRL. */
export const epsilonHigh: Row = {
  param: 'epsilon_high',
  into: 'config',
  fields: ['epsilon_high'],
  value: (v: Value) => ({ epsilon_high: (v as number) > 0 ? v : null }),
  note: '0 (rlhfc) = None (TRL): the same as epsilon',
};

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
  w.add(`MAX_PROMPT_LENGTH = ${pyLit(w.p['max_prompt_length'])}  # max_prompt_length: prompts keep their last tokens`);
  w.add('train = train.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))');
  w.add('# rewards: one TRL reward function per source, summed with reward_weights');
  w.add('reward_funcs = [');
  let j = 0;
  for (const [i, k] of rewardKeys.entries()) {
    const r = w.res[k];
    const judge = r?.kind === 'folder' ? `judges.reward_model(args.rewards[${j++}])` : r?.kind === 'judge' ? r.code : 'None';
    w.add(`    judges.reward_func(${judge}, "rewards_${i}"),  # ${k}: ${w.describe(k)}`);
  }
  w.add(']');
  w.add(`config = ${w.configCall(classes, [{ name: 'shuffle_dataset', value: true, comment: 'prompts in a seeded random order, as rlhfc' }])}`);
  w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
  w.trainer('trl', classes.trainer!, ['model=policy', 'reward_funcs=reward_funcs', 'args=config', 'train_dataset=train', 'processing_class=tokenizer', 'peft_config=peft_config'], { evaluate: false });
}
