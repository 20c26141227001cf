// The rows of the TRL mapping table and the row groups several stage kinds share. Each stage kind's
// own rows live with its script emitter in stages/<kind>.ts; mapping.ts assembles the table.

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

/** The trainer and configuration class of a stage kind; script-only stages have none. */
export interface StageClasses {
  trainer?: string;
  config?: string;
  module: string;
  doc: string;
}

export const same = (field: string) => (v: Value) => ({ [field]: v });
export const positive = (what: string) => (v: Value) => ((v as number) > 0 ? what : undefined);

// ---- groups shared by several stage kinds -------------------------------------------------------

export const loop: Row[] = [
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
export function scheduler(p: ResolvedParams): Record<string, Py | undefined> {
  const o = p['optimizer'] as ResolvedParams;
  const s = o['schedule'];
  const floor = o['min_lr_ratio'] as number;
  if (s === 'cosine' && floor > 0) return { lr_scheduler_type: 'cosine_with_min_lr', lr_scheduler_kwargs: { min_lr_rate: floor } };
  if (s === 'constant') return { lr_scheduler_type: (o['warmup_steps'] as number) > 0 ? 'constant_with_warmup' : 'constant' };
  return { lr_scheduler_type: s as string };
}

export const optimizer: Row[] = [
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

export const lora: Row[] = [
  { param: 'lora.r', into: 'lora', fields: ['r'] },
  { param: 'lora.alpha', into: 'lora', fields: ['lora_alpha'] },
  { param: 'lora.dropout', into: 'lora', fields: ['lora_dropout'] },
  { param: 'lora.targets', into: 'lora', fields: ['target_modules'], note: 'GPT-2 module names; `fan_in_fan_out=True` for its Conv1D layers' },
  { param: 'lora.merge', script: 'after training the adapter is merged into full weights (`merge_and_unload`) before saving' },
];

export const generation = (into: Into): Row[] => [
  { param: 'generation.max_new_tokens', into, fields: ['max_new_tokens'] },
  { param: 'generation.min_new_tokens', into, fields: ['min_new_tokens'] },
  { param: 'generation.temperature', into, fields: ['temperature'] },
  { param: 'generation.top_k', into, fields: ['top_k'] },
  { param: 'generation.top_p', into, fields: ['top_p'] },
];

/** The chat-template switch: the runtime renders prompts with the tokenizer's chat template; the export does not yet (refused, not ignored). */
export const chatTemplate: Row = {
  param: 'chat_template',
  when: 'true',
  unsupported: (v) => (v === true ? 'the TRL export does not render prompts with the chat template yet (issue 24, export side)' : undefined),
  script: 'false: prompts are used as text, as in rlhfc',
};
export const promptLength: Row = { param: 'max_prompt_length', script: 'prompts are tokenized and truncated from the left to this many tokens' };
export const maxPrompts: Row = { param: 'max_prompts', script: 'only the first N prompts are used (0: all)' };

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
