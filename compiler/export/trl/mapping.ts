// The parameter mapping of the TRL target: every parameter of every stage kind and source
// constructor → its TRL / Transformers / PEFT name, or what the emitted script does with it, or
// why it has no equivalent. The emitters read this table (they never spell a config field
// themselves), the README's "Scaling out" table is generated from it, and tests check that it
// covers every schema parameter and that every field it names exists in the pinned classes.

import type { ResolvedParams, Value } from '../../../core/schema.ts';

/** A Python value in emitted code: JSON-like data, or a Python expression written as is. */
export type Py = Value | { expr: string };

/** Where mapped fields go: the stage's config class, `peft.LoraConfig`, `GPT2Config`, or `generate()` (GenerationConfig). */
export type Into = 'config' | 'lora' | 'gpt2' | 'generation';

export interface Row {
  /** Dotted parameter path as in the schema ('optimizer.lr', 'kl.adaptive'). */
  param: string;
  /** Fields this parameter sets, and how its value becomes theirs (default: the value, into the first field). */
  into?: Into;
  fields?: string[];
  value?: (v: Value, p: ResolvedParams) => Record<string, Py | undefined>;
  /** What the emitted script does with it (data formatting, sampling, paths), when not a config field. */
  script?: string;
  /** When the target cannot express this value: the reason (reported as RLHF5001); undefined when it can. */
  unsupported?: (v: Value, p: ResolvedParams) => string | undefined;
  /** For the README: the values `unsupported` rejects ('> 0', 'true'). */
  when?: string;
  /** A difference in behaviour worth knowing, shown in the README table. */
  note?: string;
}

/** The trainer and configuration class of each stage kind; script-only stages have none. */
export const STAGE_CLASSES: Record<string, { trainer?: string; config?: string; module: string; doc: string }> = {
  pretrain: { trainer: 'Trainer', config: 'TrainingArguments', module: 'transformers', doc: 'Transformers `Trainer` on causal-LM blocks, labels = input ids' },
  sft: { trainer: 'SFTTrainer', config: 'SFTConfig', module: 'trl', doc: 'TRL `SFTTrainer` on prompt/completion records' },
  reward: { trainer: 'RewardTrainer', config: 'RewardConfig', module: 'trl', doc: 'TRL `RewardTrainer` on `AutoModelForSequenceClassification(num_labels=1)`' },
  dpo: { trainer: 'DPOTrainer', config: 'DPOConfig', module: 'trl', doc: 'TRL `DPOTrainer`' },
  ppo: { trainer: 'PPOTrainer', config: 'PPOConfig', module: 'rlhf_export.ppo', doc: 'rlhfc\'s own `PPOTrainer` on Accelerate (`rlhf_export/ppo.py`: policy + value head, frozen reference, reward model or judge; TRL 1.x has no PPO trainer)' },
  judge: { module: 'transformers', doc: 'script: sample with `generate()`, score with the judge, keep best/worst as chosen/rejected' },
  generate: { module: 'transformers', doc: 'script: sample one response per prompt with `generate()`' },
  eval: { module: 'transformers', doc: 'script: sample with `generate()`, score with the judge, KL to the reference; writes report.json' },
};

const same = (field: string) => (v: Value) => ({ [field]: v });
const positive = (what: string) => (v: Value) => ((v as number) > 0 ? what : undefined);

// ---- groups shared by several stage kinds -------------------------------------------------------

const loop: Row[] = [
  {
    param: 'batch_size',
    into: 'config',
    fields: ['per_device_train_batch_size', 'per_device_eval_batch_size'],
    value: (v) => ({ per_device_train_batch_size: { expr: `common.per_process(${v})` }, per_device_eval_batch_size: v }),
    note: 'global, as rlhfc: each of P processes gets batch_size / P (the effective batch is batch_size × grad_accum for any P)',
  },
  { param: 'grad_accum', into: 'config', fields: ['gradient_accumulation_steps'] },
  { param: 'epochs', into: 'config', fields: ['num_train_epochs'] },
  { param: 'max_steps', into: 'config', fields: ['max_steps'], value: (v) => ({ max_steps: (v as number) > 0 ? v : -1 }), note: '0 becomes -1 (run `epochs`)' },
  { param: 'eval_every', into: 'config', fields: ['eval_strategy', 'eval_steps'], value: (v) => ((v as number) > 0 ? { eval_strategy: 'steps', eval_steps: v } : { eval_strategy: 'no' }), note: 'the script also evaluates once after training' },
  { param: 'log_every', into: 'config', fields: ['logging_steps'] },
  { param: 'checkpoint_every', into: 'config', fields: ['save_strategy', 'save_steps'], value: (v) => ((v as number) > 0 ? { save_strategy: 'steps', save_steps: v } : { save_strategy: 'no' }), note: 'N > 0: a checkpoint every N steps, from which an interrupted stage resumes; 0 (locally: every 2 minutes) has no time-based equivalent, so no checkpoints' },
];

/** `schedule` and `min_lr_ratio` together choose the scheduler. */
function scheduler(p: ResolvedParams): Record<string, Py | undefined> {
  const o = p['optimizer'] as ResolvedParams;
  const s = o['schedule'];
  const floor = o['min_lr_ratio'] as number;
  if (s === 'cosine' && floor > 0) return { lr_scheduler_type: 'cosine_with_min_lr', lr_scheduler_kwargs: { min_lr_rate: floor } };
  if (s === 'constant') return { lr_scheduler_type: (o['warmup_steps'] as number) > 0 ? 'constant_with_warmup' : 'constant' };
  return { lr_scheduler_type: s as string };
}

const optimizer: Row[] = [
  { param: 'optimizer.lr', into: 'config', fields: ['learning_rate'] },
  { param: 'optimizer.weight_decay', into: 'config', fields: ['weight_decay'], note: 'Transformers also decays embeddings (rlhfc does not)' },
  { param: 'optimizer.betas', into: 'config', fields: ['adam_beta1', 'adam_beta2'], value: (v) => ({ adam_beta1: (v as number[])[0], adam_beta2: (v as number[])[1] }) },
  { param: 'optimizer.eps', into: 'config', fields: ['adam_epsilon'] },
  { param: 'optimizer.schedule', into: 'config', fields: ['lr_scheduler_type'], value: (_v, p) => ({ lr_scheduler_type: scheduler(p)['lr_scheduler_type'] }), note: '`constant` with warmup is `constant_with_warmup`' },
  {
    param: 'optimizer.min_lr_ratio',
    into: 'config',
    fields: ['lr_scheduler_kwargs'],
    value: (_v, p) => {
      const s = scheduler(p);
      return s['lr_scheduler_kwargs'] ? { lr_scheduler_kwargs: s['lr_scheduler_kwargs'] } : {};
    },
    when: '> 0 with schedule: linear',
    unsupported: (v, p) =>
      (v as number) > 0 && (p['optimizer'] as ResolvedParams)['schedule'] === 'linear' ? 'Transformers has no linear schedule with a floor (use schedule: cosine, which maps to cosine_with_min_lr)' : undefined,
    note: 'with `cosine`: `cosine_with_min_lr` and `min_lr_rate`',
  },
  { param: 'optimizer.warmup_steps', into: 'config', fields: ['warmup_steps'] },
  { param: 'optimizer.grad_clip', into: 'config', fields: ['max_grad_norm'], note: '0 turns clipping off in both' },
];

const lora: Row[] = [
  { param: 'lora.r', into: 'lora', fields: ['r'] },
  { param: 'lora.alpha', into: 'lora', fields: ['lora_alpha'] },
  { param: 'lora.dropout', into: 'lora', fields: ['lora_dropout'] },
  { param: 'lora.targets', into: 'lora', fields: ['target_modules'], note: 'GPT-2 module names; `fan_in_fan_out=True` for its Conv1D layers' },
  { param: 'lora.merge', script: 'after training the adapter is merged into full weights (`merge_and_unload`) before saving' },
];

const generation = (into: Into): Row[] => [
  { param: 'generation.max_new_tokens', into, fields: ['max_new_tokens'] },
  { param: 'generation.min_new_tokens', into, fields: ['min_new_tokens'] },
  { param: 'generation.temperature', into, fields: ['temperature'] },
  { param: 'generation.top_k', into, fields: ['top_k'] },
  { param: 'generation.top_p', into, fields: ['top_p'] },
];

const promptLength: Row = { param: 'max_prompt_length', script: 'prompts are tokenized and truncated from the left to this many tokens' };
const maxPrompts: Row = { param: 'max_prompts', script: 'only the first N prompts are used (0: all)' };

// ---- the table ------------------------------------------------------------------------------------

export const STAGE_MAPPING: Record<string, Row[]> = {
  pretrain: [
    { param: 'block_size', script: 'documents are tokenized, joined with end-of-text and cut into blocks of block_size tokens', note: 'blocks overlap by one token so each token is predicted once (rlhfc reads one token past each block instead)' },
    { param: 'remainder', script: '`drop` drops the last partial block; `pad` pads it (padding is masked from the loss)' },
    ...loop,
    ...optimizer,
  ],
  sft: [
    { param: 'template', script: 'prompt = the template up to {response} with {prompt} filled in; completion = response + the rest (TRL appends end-of-text)' },
    { param: 'completion_only', into: 'config', fields: ['completion_only_loss'] },
    { param: 'max_seq_length', into: 'config', fields: ['max_length'] },
    { param: 'packing', into: 'config', fields: ['packing'] },
    ...lora,
    ...loop,
    ...optimizer,
  ],
  reward: [
    { param: 'max_seq_length', into: 'config', fields: ['max_length'], note: 'TRL drops longer pairs instead of truncating them' },
    { param: 'use_margin', script: 'the `margin` column is kept (RewardTrainer subtracts it inside the sigmoid) or removed' },
    { param: 'center_rewards', into: 'config', fields: ['center_rewards_coefficient'], value: (v) => ({ center_rewards_coefficient: (v as number) > 0 ? v : null }) },
    ...lora,
    ...loop,
    ...optimizer,
  ],
  dpo: [
    { param: 'beta', into: 'config', fields: ['beta'] },
    { param: 'loss', into: 'config', fields: ['loss_type'] },
    {
      param: 'label_smoothing',
      into: 'config',
      fields: ['label_smoothing'],
      when: '> 0',
      unsupported: positive("TRL 1.x's sigmoid DPO loss has no label smoothing (conservative DPO); its `robust` loss is a different estimator"),
    },
    { param: 'max_seq_length', into: 'config', fields: ['max_length'] },
    { param: 'max_prompt_length', script: 'prompts are truncated from the left to this many tokens before DPOTrainer tokenizes the pairs (TRL 1.x has no max_prompt_length)' },
    ...lora,
    ...loop,
    ...optimizer,
  ],
  ppo: [
    // rlhf_export/ppo.py: rlhfc's own PPO trainer (TRL 1.x has none), so every parameter keeps its meaning.
    { param: 'steps', into: 'config', fields: ['steps'], note: 'PPO steps: each samples batch_size prompts and makes ppo_epochs × batch_size / mini_batch_size updates, for any number of processes' },
    { param: 'batch_size', into: 'config', fields: ['batch_size'], note: 'global: each of P processes samples batch_size / P prompts' },
    { param: 'mini_batch_size', into: 'config', fields: ['mini_batch_size'], note: 'global: split between the processes' },
    { param: 'ppo_epochs', into: 'config', fields: ['ppo_epochs'] },
    { param: 'max_prompt_length', into: 'config', fields: ['max_prompt_length'] },
    { param: 'gamma', into: 'config', fields: ['gamma'] },
    { param: 'lam', into: 'config', fields: ['lam'] },
    { param: 'cliprange', into: 'config', fields: ['cliprange'] },
    { param: 'cliprange_value', into: 'config', fields: ['cliprange_value'] },
    { param: 'vf_coef', into: 'config', fields: ['vf_coef'] },
    { param: 'whiten_rewards', into: 'config', fields: ['whiten_rewards'] },
    { param: 'kl.init', into: 'config', fields: ['kl_init'] },
    { param: 'kl.adaptive', into: 'config', fields: ['kl_adaptive'] },
    { param: 'kl.target', into: 'config', fields: ['kl_target'] },
    { param: 'kl.horizon', into: 'config', fields: ['kl_horizon'] },
    { param: 'kl.penalty', into: 'config', fields: ['kl_penalty'] },
    { param: 'kl.stop_at', into: 'config', fields: ['kl_stop_at'] },
    { param: 'score.scaling', into: 'config', fields: ['score_scaling'] },
    { param: 'score.clip', into: 'config', fields: ['score_clip'] },
    { param: 'generation.max_new_tokens', into: 'config', fields: ['max_new_tokens'] },
    { param: 'generation.min_new_tokens', into: 'config', fields: ['min_new_tokens'] },
    { param: 'generation.temperature', into: 'config', fields: ['temperature'] },
    { param: 'generation.top_k', into: 'config', fields: ['top_k'] },
    { param: 'generation.top_p', into: 'config', fields: ['top_p'] },
    ...lora,
    ...optimizer,
    { param: 'log_every', into: 'config', fields: ['logging_steps'] },
    { param: 'checkpoint_every', into: 'config', fields: ['save_steps'], note: 'N > 0: a resumable checkpoint every N steps; 0 (locally: every 2 minutes): none' },
    { param: 'samples', into: 'config', fields: ['samples'] },
  ],
  judge: [
    { param: 'samples_per_prompt', script: 'responses sampled per prompt; the best and worst scored become chosen and rejected' },
    maxPrompts,
    promptLength,
    { param: 'ties', script: '`drop` skips prompts whose scores are all equal; `random` picks two samples with the seed' },
    ...generation('generation'),
  ],
  generate: [maxPrompts, promptLength, ...generation('generation')],
  eval: [maxPrompts, promptLength, { param: 'samples', script: 'sample generations kept per model in report.json' }, ...generation('generation')],
};

/** Row groups several stage kinds share (the README documents each once). */
export const SHARED_ROWS: Record<string, Row[]> = { 'training loop (pretrain, sft, reward, dpo)': loop, 'optimizer (pretrain, sft, reward, dpo, ppo)': optimizer, 'lora (sft, reward, dpo, ppo)': lora };

/** What every dataset source maps to: limit and split, done by prepare_data.py as the runtime does. */
const DATASET_COMMON = [
  { param: 'limit', script: 'prepare_data.py keeps the first N records' },
  { param: 'split.validation', script: 'prepare_data.py: same held-out records (a port of the runtime\'s seeded shuffle)' },
  { param: 'split.seed', script: 'prepare_data.py: split seed' },
];

/** `jsonl(path)` and `json(path)`: the file is copied and its fields mapped. */
const DATASET_FILE = [
  { param: 'path', script: 'copied to data/sources/' },
  { param: 'kind', script: 'prepare_data.py builds records of this kind' },
  { param: 'fields.*', script: 'prepare_data.py applies the same field mapping (dotted paths)' },
  ...DATASET_COMMON,
];

/** Sources: dataset and tokenizer constructors are implemented by prepare_data.py and train_tokenizers.py; models by the stage scripts. */
export const SOURCE_MAPPING: Record<string, Row[]> = {
  'model gpt': [
    { param: 'layers', into: 'gpt2', fields: ['n_layer'] },
    { param: 'heads', into: 'gpt2', fields: ['n_head'] },
    { param: 'width', into: 'gpt2', fields: ['n_embd'] },
    { param: 'context', into: 'gpt2', fields: ['n_positions'] },
    { param: 'dropout', into: 'gpt2', fields: ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'], value: (v) => ({ resid_pdrop: v, embd_pdrop: v, attn_pdrop: v }) },
  ],
  'model load': [{ param: 'path', script: '`from_pretrained` on the folder (referenced, not copied)' }],
  'model hf': [{ param: 'id', script: '`from_pretrained` on the Hub id or folder' }],
  'tokenizer gpt2': [],
  'tokenizer bpe': [{ param: 'vocab_size', script: '`tokenizers` BpeTrainer(vocab_size) on the training split, byte-level' }],
  'tokenizer chars': [],
  'dataset corpus': [
    { param: 'name', script: 'the corpus is written out as JSONL under data/sources/' },
    { param: 'kind', script: 'records of this kind (the corpus is written in it)' },
    { param: 'prompt_words', script: 'applied when the corpus is written out' },
    ...DATASET_COMMON,
  ],
  'dataset text': [
    { param: 'path', script: 'copied to data/sources/' },
    { param: 'kind', script: 'prepare_data.py derives records of this kind' },
    { param: 'separator', script: 'prepare_data.py splits documents the same way' },
    ...DATASET_COMMON,
  ],
  'dataset jsonl': DATASET_FILE,
  'dataset json': DATASET_FILE,
  'judge vader': [],
  'judge afinn': [{ param: 'per_token', script: 'rlhf_export/judges.py `afinn(per_token)` (the AFINN-165 lexicon of npm `sentiment`, shipped as afinn.json)' }],
  'judge length': [{ param: 'target', script: 'rlhf_export/judges.py `length(target)`' }],
  'judge words': [{ param: 'list', script: 'rlhf_export/judges.py `words(list)`' }],
  'judge fn': [{ param: 'ref', when: 'always', unsupported: () => 'a user TypeScript function cannot run in the Python project', note: 'an error (RLHF5002), not a warning' }],
  'setting seed': [{ param: 'seed', into: 'config', fields: ['seed', 'data_seed'], value: (v) => ({ seed: v, data_seed: v }), script: 'also seeds sampling in the script-only stages' }],
  'setting artifacts': [{ param: 'artifacts', script: 'not used: stage outputs go to outputs/<stage>/ in the project' }],
  'setting cluster': [
    { param: 'cluster.gpus', script: 'accelerate.yaml `num_processes` = gpus × nodes' },
    { param: 'cluster.nodes', script: 'accelerate.yaml `num_machines`' },
    { param: 'cluster.strategy', script: 'accelerate.yaml: `ddp` MULTI_GPU, `zero2`/`zero3` DEEPSPEED with that ZeRO stage, `fsdp` FSDP' },
    { param: 'cluster.mixed_precision', into: 'config', fields: ['bf16', 'fp16'], value: (v) => ({ bf16: v === 'bf16', fp16: v === 'fp16' }), script: 'and accelerate.yaml `mixed_precision`' },
  ],
};

/** The rows of a stage kind whose parameter is present in `p` (lora rows only with a lora block). */
export function rowsFor(kind: string, p: ResolvedParams): Row[] {
  return (STAGE_MAPPING[kind] ?? []).filter((r) => !r.param.startsWith('lora.') || p['lora'] !== null);
}

/** Value of a dotted parameter path. */
export function valueAt(p: ResolvedParams, path: string): Value {
  let cur: Value = p;
  for (const part of path.split('.')) cur = cur && typeof cur === 'object' && !Array.isArray(cur) ? (cur[part] ?? null) : null;
  return cur;
}

/** The fields a row sets for resolved params `p`. */
export function fieldValues(r: Row, p: ResolvedParams): Record<string, Py> {
  if (!r.fields) return {};
  const v = valueAt(p, r.param);
  const out: Record<string, Py> = {};
  for (const [k, x] of Object.entries((r.value ?? same(r.fields[0]))(v, p))) if (x !== undefined) out[k] = x;
  return out;
}
