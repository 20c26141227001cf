// The rows of the TRL mapping table and the row groups several stage kinds share. Each stage kind's
// own rows live with its script emitter in stages/<kind>.ts; mapping.ts assembles the table.

import type { ParamsOf, ResolvedParams, Value } from '../../../core/schema.ts';
import type { GenerationParams, LoopParams, LoraParams, OptimizerParams } from '../../../runtime/train/params.ts';
import type { HealthParams } from '../../../runtime/health.ts';

/** A Python value in emitted code: JSON-like data, or a Python expression written as is. */
export type Py = Value | { expr: string };

/** Where mapped fields go: the stage's config class, `peft.LoraConfig`, `GPT2Config`, a Llama-family config (`LlamaConfig`, `Qwen2Config`, …), or `generate()` (GenerationConfig). */
export type Into = 'config' | 'lora' | 'gpt2' | 'llama' | 'generation';

export interface Row {
  /** Dotted parameter path as in the schema ('optimizer.lr', 'kl.adaptive'): for a stage kind, what the
   *  typed accessor given to `rowsOf` reads (never spelled by hand). */
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


/** A row of a stage kind (or shared group) with params type `P`, for a parameter of type `V`. */
export interface TypedRow<P, V> extends Omit<Row, 'param' | 'value' | 'unsupported'> {
  value?: (v: V, p: P) => Record<string, Py | undefined>;
  unsupported?: (v: V, p: P) => string | undefined;
}

/** The dotted path an accessor reads ('kl.init' for `(p) => p.kl.init`), recorded on a proxy. */
function pathOf(at: (p: never) => unknown): string {
  const path: string[] = [];
  const probe: object = new Proxy(
    {},
    {
      get(_t, key) {
        if (typeof key !== 'string') throw new Error(`a row accessor must only read one parameter (${at.toString()})`);
        path.push(key);
        return probe;
      },
    },
  );
  if (at(probe as never) !== probe || path.length === 0) throw new Error(`a row accessor must only read one parameter (${at.toString()})`);
  return path.join('.');
}

/**
 * The row maker of a params type `P` (a stage kind's `ParamsOf` its schema, or a shared group's):
 * `row((p) => p.kl.init, { into: 'config', fields: ['kl_init'] })`. The accessor is checked by the type
 * checker against P, and `value` / `unsupported` see the parameter's type and P; the table keeps the
 * dotted path the accessor reads. The Plan's resolved params are these types (the checker resolved
 * them against the same schema), as a stage's `run()` receives them.
 */
export function rowsOf<P>(): <V>(at: (p: P) => V, r?: TypedRow<P, V>) => Row {
  return (at, r = {}) => ({ param: pathOf(at as (p: never) => unknown), ...r }) as Row;
}

export const same = (field: string) => (v: Value) => ({ [field]: v });
export const positive = (what: string) => (v: number) => (v > 0 ? what : undefined);

// ---- groups shared by several stage kinds -------------------------------------------------------

const loopRow = rowsOf<LoopParams>();
const optimizerRow = rowsOf<{ optimizer: OptimizerParams }>();
const loraRow = rowsOf<{ lora: LoraParams | null }>();
const generationRow = rowsOf<{ generation: GenerationParams }>();
const healthRow = rowsOf<{ health: HealthParams }>();

/** The training-health monitor is rlhfc's own: the exported scripts log the metrics it reads, without its warnings. */
const monitorOnly = { script: 'none: the training-health monitor is rlhfc\'s own (local runs); the exported scripts log the metrics it reads, without its warnings' };
export const health: Row[] = [
  healthRow((p) => p.health.zero_std, monitorOnly),
  healthRow((p) => p.health.truncation, monitorOnly),
  healthRow((p) => p.health.length_corr, monitorOnly),
  healthRow((p) => p.health.length_drift, monitorOnly),
  healthRow((p) => p.health.kl_max, monitorOnly),
  healthRow((p) => p.health.kl_growth, monitorOnly),
  healthRow((p) => p.health.entropy_drop, monitorOnly),
  healthRow((p) => p.health.chosen_falling, monitorOnly),
  healthRow((p) => p.health.flat_evals, monitorOnly),
];

export const loop: Row[] = [
  loopRow((p) => p.batch_size, {
    into: 'config',
    fields: ['per_device_train_batch_size', 'per_device_eval_batch_size'],
    value: (v) => ({ per_device_train_batch_size: { expr: `common.per_process(${v})` }, per_device_eval_batch_size: v }),
    note: 'global, as rlhfc: each of P processes gets batch_size / P (the effective batch is batch_size × grad_accum for any P)',
  }),
  loopRow((p) => p.grad_accum, { into: 'config', fields: ['gradient_accumulation_steps'] }),
  loopRow((p) => p.epochs, { into: 'config', fields: ['num_train_epochs'] }),
  loopRow((p) => p.max_steps, { into: 'config', fields: ['max_steps'], value: (v) => ({ max_steps: v > 0 ? v : -1 }), note: '0 becomes -1 (run `epochs`)' }),
  loopRow((p) => p.eval_every, { into: 'config', fields: ['eval_strategy', 'eval_steps'], value: (v) => (v > 0 ? { eval_strategy: 'steps', eval_steps: v } : { eval_strategy: 'no' }), note: 'the script also evaluates once after training' }),
  loopRow((p) => p.log_every, { into: 'config', fields: ['logging_steps'] }),
  loopRow((p) => p.checkpoint_every, { into: 'config', fields: ['save_strategy', 'save_steps'], value: (v) => (v > 0 ? { save_strategy: 'steps', save_steps: v } : { save_strategy: 'no' }), note: 'N > 0: a checkpoint every N steps, from which an interrupted stage resumes; 0 (locally: every 2 minutes) has no time-based equivalent, so no checkpoints' }),
  ...health,
];

/** `schedule` and `min_lr_ratio` together choose the scheduler. */
export function scheduler(o: OptimizerParams): Record<string, Py | undefined> {
  const floor = o.min_lr_ratio;
  if (o.schedule === 'cosine' && floor > 0) return { lr_scheduler_type: 'cosine_with_min_lr', lr_scheduler_kwargs: { min_lr_rate: floor } };
  if (o.schedule === 'constant') return { lr_scheduler_type: o.warmup_steps > 0 ? 'constant_with_warmup' : 'constant' };
  return { lr_scheduler_type: o.schedule };
}

export const optimizer: Row[] = [
  optimizerRow((p) => p.optimizer.lr, { into: 'config', fields: ['learning_rate'] }),
  optimizerRow((p) => p.optimizer.weight_decay, { into: 'config', fields: ['weight_decay'], note: 'both decay every weight but biases and LayerNorm/RMSNorm weights (`Trainer.get_decay_parameter_names`; rlhfc: `defaultDecay` in runtime/optim.ts), embeddings included' }),
  optimizerRow((p) => p.optimizer.betas, { into: 'config', fields: ['adam_beta1', 'adam_beta2'], value: (v) => ({ adam_beta1: v[0], adam_beta2: v[1] }) }),
  optimizerRow((p) => p.optimizer.eps, { into: 'config', fields: ['adam_epsilon'] }),
  optimizerRow((p) => p.optimizer.schedule, { into: 'config', fields: ['lr_scheduler_type'], value: (_v, p) => ({ lr_scheduler_type: scheduler(p.optimizer)['lr_scheduler_type'] }), note: '`constant` with warmup is `constant_with_warmup`' }),
  optimizerRow((p) => p.optimizer.min_lr_ratio, {
    into: 'config',
    fields: ['lr_scheduler_kwargs'],
    value: (_v, p) => {
      const s = scheduler(p.optimizer);
      return s['lr_scheduler_kwargs'] ? { lr_scheduler_kwargs: s['lr_scheduler_kwargs'] } : {};
    },
    when: '> 0 with schedule: linear',
    unsupported: (v, p) =>
      v > 0 && p.optimizer.schedule === 'linear' ? 'Transformers has no linear schedule with a floor (use schedule: cosine, which maps to cosine_with_min_lr)' : undefined,
    note: 'with `cosine`: `cosine_with_min_lr` and `min_lr_rate`',
  }),
  optimizerRow((p) => p.optimizer.warmup_steps, { into: 'config', fields: ['warmup_steps'], note: 'both: step s (from 0) of the warm-up runs at lr·s/warmup_steps, so the first step\'s rate is 0' }),
  optimizerRow((p) => p.optimizer.grad_clip, { into: 'config', fields: ['max_grad_norm'], note: '0 turns clipping off in both' }),
];

export const lora: Row[] = [
  loraRow((p) => p.lora?.r, { into: 'lora', fields: ['r'] }),
  loraRow((p) => p.lora?.alpha, { into: 'lora', fields: ['lora_alpha'] }),
  loraRow((p) => p.lora?.dropout, { into: 'lora', fields: ['lora_dropout'] }),
  loraRow((p) => p.lora?.targets, { into: 'lora', fields: ['target_modules'], note: 'PEFT module names; `fan_in_fan_out=True` for GPT-2\'s Conv1D layers, False for the Llama family\'s nn.Linear' }),
  loraRow((p) => p.lora?.merge, { script: 'after training the adapter is merged into full weights (`merge_and_unload`) before saving' }),
];

export const generation = (into: Into): Row[] => [
  generationRow((p) => p.generation.max_new_tokens, { into, fields: ['max_new_tokens'] }),
  generationRow((p) => p.generation.min_new_tokens, { into, fields: ['min_new_tokens'] }),
  generationRow((p) => p.generation.temperature, { into, fields: ['temperature'] }),
  generationRow((p) => p.generation.top_k, { into, fields: ['top_k'] }),
  generationRow((p) => p.generation.top_p, { into, fields: ['top_p'] }),
];

/** The chat-template switch: prompts rendered with the tokenizer's chat template as rlhfc renders them (common.py's chat helpers). */
export const chatTemplate: Row = rowsOf<{ chat_template: boolean }>()((p) => p.chat_template, {
  script: "true: each prompt is one user turn rendered with the tokenizer's chat template and its generation prompt, as rlhfc renders it (`common.py`: sft tokenized by `apply_chat`; dpo, kto, grpo, rloo as TRL conversational records, which TRL splits as rlhfc; ppo, generate, eval rendered before tokenizing); false: prompts are used as text, as in rlhfc",
  note: 'with chat_template, max_prompt_length cuts the rendered prompt in rlhfc; TRL renders conversational records itself, so dpo/kto/grpo/rloo prompts are not cut (sft, ppo, generate and eval cut them as rlhfc)',
});

/** Whether a stage renders prompts with the chat template. */
export const usesChat = (p: ResolvedParams): boolean => p['chat_template'] === true;
export const promptLength: Row = rowsOf<{ max_prompt_length: number }>()((p) => p.max_prompt_length, { script: 'prompts are tokenized and truncated from the left to this many tokens' });
export const maxPrompts: Row = rowsOf<{ max_prompts: number }>()((p) => p.max_prompts, { script: 'only the first N prompts are used (0: all)' });

/** The rows whose parameter is present in `p`: lora rows only with a lora block. */
export function presentRows(rows: Row[], p: ResolvedParams): Row[] {
  return rows.filter((r) => !r.param.startsWith('lora.') || p['lora'] !== null);
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
