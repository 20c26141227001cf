// The parameter groups of the training code, with the types it reads them as: the `optimizer { ... }`
// block, the loop's batch/length/cadence parameters, `lora { ... }`, `generation { ... }` and the
// logging of the on-policy stages. Stage kinds put these groups in their schemas; the code in
// runtime/train/ takes them typed. No TensorFlow.js here: the compiler loads this file with the schemas.

import { block, bool, float, int, list, str, type ParamsOf, type RuleContext, type RuleViolation } from '../../core/schema.ts';
import { health } from '../health.ts';
import { ALL_LORA_TARGETS, defaultLoraTargets, unknownTargets, validTargets } from '../model/lora-targets.ts';

/** The projection names of every family (GPT-2's, and PEFT's Llama-family names); the family check is loraRules. */
export const LORA_TARGETS = ALL_LORA_TARGETS;

export const optimizer = block('AdamW optimizer and learning-rate schedule.', 'always', {
  lr: float('Peak learning rate.', 1e-3, 0, 10, { minExclusive: true }),
  weight_decay: float('Decoupled weight decay (AdamW); not applied to biases and LayerNorm/RMSNorm weights (Transformers\' Trainer rule; embeddings decay).', 0.0, 0, 10),
  betas: list('Adam β1 and β2.', 'float', [0.9, 0.999]),
  eps: float('Adam ε.', 1e-8, 0, 1, { minExclusive: true }),
  schedule: str('Learning-rate schedule after warmup.', 'constant', ['constant', 'linear', 'cosine']),
  warmup_steps: int('Linear warmup over this many steps: step s (from 0) has rate lr·s/warmup_steps, as Transformers\' schedulers.', 0, 0),
  min_lr_ratio: float('Floor of the linear/cosine decay as a fraction of lr.', 0.0, 0, 1),
  grad_clip: float('Clip gradients to this global norm (0: off).', 1.0, 0),
});

/** The training loop: batch size, accumulation, length, evaluation and logging cadence. */
export const loop = (defaults: { batch_size: number; epochs: number; eval_every: number }) => ({
  batch_size: int('Examples per micro-batch.', defaults.batch_size, 1),
  grad_accum: int('Micro-batches accumulated per optimizer step.', 1, 1),
  epochs: int('Passes over the training data (ignored when max_steps > 0).', defaults.epochs, 1),
  max_steps: int('Stop after this many optimizer steps (0: run `epochs`).', 0, 0),
  eval_every: int('Evaluate on the validation split every N optimizer steps (0: only at the end).', defaults.eval_every, 0),
  log_every: int('Write a metrics line every N optimizer steps.', 10, 1),
  checkpoint_every: { ...int('Save a resumable checkpoint every N optimizer steps (0: every 2 minutes of training). Not part of the cache key.', 0, 0), notInHash: true },
  health,
});

export const lora = block('LoRA adapters; without this block the stage fine-tunes all weights.', 'optional', {
  r: int('Adapter rank.', 8, 1, 4096),
  alpha: float('Scaling numerator: adapters are scaled by alpha / r.', 16, 0, undefined, { minExclusive: true }),
  dropout: float('Dropout on the adapter input.', 0.05, 0, 1, { maxExclusive: true }),
  targets: list('Projections that get adapters, as PEFT names them: GPT-2 `c_attn`, `c_proj`, `c_fc`; Llama/Qwen/Mistral `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`; or `all-linear`. Default: the model family\'s PEFT default (GPT-2 `c_attn`; Llama, Qwen2, Qwen3, Mistral `q_proj`, `v_proj`), resolved at compile time from the model\'s architecture.', 'string', ['c_attn'], LORA_TARGETS),
  merge: bool('Save the result merged into full weights instead of the adapter alone (with a reference to its base).', false),
});

/** The `generation { ... }` block of every stage that samples (ppo, grpo, rloo, judge, generate, eval). */
export const generation = (d: { max_new_tokens: number; temperature: number }) =>
  block('Sampling settings.', 'always', {
    max_new_tokens: int('Most tokens generated per response.', d.max_new_tokens, 1),
    min_new_tokens: int('End-of-text is suppressed until this many tokens were generated.', 0, 0),
    temperature: float('Softmax temperature (must be > 0).', d.temperature, 0, 100, { minExclusive: true }),
    top_k: int('Sample among the k most likely tokens (0: off).', 0, 0),
    top_p: float('Nucleus sampling mass (1: off).', 1.0, 0, 1, { minExclusive: true }),
  });

/** Logging, checkpoints and samples of the on-policy stages (ppo, grpo, rloo), which count generation steps. */
export const rlStepLogging = {
  log_every: int('Write a metrics line every N steps.', 1, 1),
  checkpoint_every: { ...int('Save a resumable checkpoint every N steps (0: every 2 minutes). Not part of the cache key.', 0, 0), notInHash: true },
  samples: int('Sample generations logged per step.', 2, 0),
  health,
} as const;

export type OptimizerParams = ParamsOf<(typeof optimizer)['fields']>;
export type LoopParams = ParamsOf<ReturnType<typeof loop>>;
export type LoraParams = ParamsOf<(typeof lora)['fields']>;
export type GenerationParams = ParamsOf<ReturnType<typeof generation>['fields']>;
export type RlStepLoggingParams = ParamsOf<typeof rlStepLogging>;

/** The family of the model a stage trains (its causal-LM or reward-model inputs), when the compiler knows it. */
function trainedFamilies(ctx: RuleContext): Set<string> {
  return new Set(Object.values(ctx.inputs).flatMap((f) => (f?.model?.family && (f.type === 'causal_lm' || f.type === 'reward_model') ? [f.model.family] : [])));
}

/**
 * A `lora { }` block that names no targets gets its model family's (lora-targets.ts defaultLoraTargets),
 * so the Plan — what `rlhfc compile` shows, the runtime runs and the export writes — holds the
 * projections adapted. `defaults` are the params' defaulted paths; a family the compiler does not know
 * keeps the schema's default (GPT-2's).
 */
export function resolveLoraDefaults(p: { lora?: LoraParams | null }, defaults: readonly string[], ctx: RuleContext): void {
  if (!p.lora || !defaults.includes('lora.targets')) return;
  const families = [...trainedFamilies(ctx)];
  if (families.length === 1) p.lora.targets = defaultLoraTargets(families[0]);
}

/**
 * `lora.targets` against the family of the stage's model when the compiler knows it (a folder's
 * config.json): a target of another family (`c_attn` on a Llama) is an error listing the valid ones.
 */
export function loraRules(p: { lora?: LoraParams | null }, ctx: RuleContext): RuleViolation[] {
  const targets = p.lora?.targets;
  if (!targets) return [];
  const families = trainedFamilies(ctx);
  const out: RuleViolation[] = [];
  for (const family of families) {
    const bad = unknownTargets(targets, family);
    if (bad.length) out.push({ path: 'lora.targets', message: `lora targets ${bad.map((t) => JSON.stringify(t)).join(', ')} ${bad.length === 1 ? 'is not a projection' : 'are not projections'} of the ${family} model; valid: ${validTargets(family).join(', ')}` });
  }
  return out;
}
