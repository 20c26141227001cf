// Parameter groups shared by several stage kinds: the optimizer, the training loop, LoRA, generation.
// Defaults follow TRL/Transformers where that makes sense for tiny CPU models; documented in README.

import { block, bool, float, inputs, int, list, str, type IntSpec, type RuleContext, type RuleViolation } from '../../core/schema.ts';

export const LORA_TARGETS = ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'] as const;

export const optimizer = block('AdamW optimizer and learning-rate schedule.', 'always', {
  lr: float('Peak learning rate.', 1e-3, 0, 10, { minExclusive: true }),
  weight_decay: float('Decoupled weight decay (AdamW); not applied to biases, LayerNorm and embeddings.', 0.0, 0, 10),
  betas: list('Adam β1 and β2.', 'float', [0.9, 0.999]),
  eps: float('Adam ε.', 1e-8, 0, 1, { minExclusive: true }),
  schedule: str('Learning-rate schedule after warmup.', 'constant', ['constant', 'linear', 'cosine']),
  warmup_steps: int('Linear warmup from 0 to lr over this many steps.', 0, 0),
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
});

export const lora = block('LoRA adapters; without this block the stage fine-tunes all weights.', 'optional', {
  r: int('Adapter rank.', 8, 1, 4096),
  alpha: float('Scaling numerator: adapters are scaled by alpha / r.', 16, 0, undefined, { minExclusive: true }),
  dropout: float('Dropout on the adapter input.', 0.05, 0, 1, { maxExclusive: true }),
  targets: list('Projections that get adapters.', 'string', ['c_attn'], LORA_TARGETS),
  merge: bool('Save the result merged into full weights instead of the adapter alone (with a reference to its base).', false),
});

export const generation = (d: { max_new_tokens: number; temperature: number }) =>
  block('Sampling settings.', 'always', {
    max_new_tokens: int('Most tokens generated per response.', d.max_new_tokens, 1),
    min_new_tokens: int('End-of-text is suppressed until this many tokens were generated.', 0, 0),
    temperature: float('Softmax temperature (must be > 0).', d.temperature, 0, 100, { minExclusive: true }),
    top_k: int('Sample among the k most likely tokens (0: off).', 0, 0),
    top_p: float('Nucleus sampling mass (1: off).', 1.0, 0, 1, { minExclusive: true }),
  });

export const maxSeqLength = (def: number, doc = 'Longest tokenized example; longer ones are truncated.'): IntSpec => ({
  ...int(`${doc} Default: ${def}, or the model's context if smaller.`, def, 2),
  capDefaultAtContextOf: 'model',
});

/** Rules shared by stages that take a model: a fresh `gpt` needs a tokenizer; lengths fit the context. */
export function modelRules(
  p: { optimizer?: { betas: number[] } },
  ctx: RuleContext,
  modelParam: string,
  lengths: { path: string; value: number }[],
): RuleViolation[] {
  const out: RuleViolation[] = [];
  const m = ctx.inputs[modelParam]?.model;
  if (m && !m.tokenized && !ctx.inputs['tokenizer']) {
    out.push({ path: modelParam, message: `the model has no tokenizer yet; add 'tokenizer: <name>' to this stage` });
  }
  if (m) {
    for (const l of lengths) {
      if (l.value > m.context) out.push({ path: l.path, message: `${l.path} is ${l.value} but the model's context is ${m.context}` });
    }
  }
  const betas = p.optimizer?.betas;
  if (betas && (betas.length !== 2 || betas.some((b) => !(b >= 0 && b < 1)))) {
    out.push({ path: 'optimizer.betas', message: 'betas must be two numbers in [0, 1)' });
  }
  return out;
}

export const tokenizerDoc = 'Tokenizer to use when the model has none yet (a fresh `gpt` declaration).';
export { bool };

/** Sampling stages: prompt + generated tokens must fit the context of the model bound to `modelParam`. */
export function samplingRules(
  p: { max_prompt_length: number; generation: { max_new_tokens: number; min_new_tokens: number }; optimizer?: { betas: number[] } },
  ctx: RuleContext,
  modelParam: string,
): RuleViolation[] {
  const gen = p.generation;
  const total = p.max_prompt_length + gen.max_new_tokens;
  const out = modelRules(p, ctx, modelParam, []);
  const m = ctx.inputs[modelParam]?.model;
  if (m && total > m.context) {
    out.push({ path: 'max_prompt_length', message: `max_prompt_length + generation.max_new_tokens is ${total} but the ${modelParam === 'policy' ? "policy's" : "model's"} context is ${m.context}` });
  }
  if (gen.min_new_tokens > gen.max_new_tokens) out.push({ path: 'generation.min_new_tokens', message: 'min_new_tokens exceeds max_new_tokens' });
  return out;
}

/** `max_prompt_length`: by default at most half the model's context, leaving room for the response. */
export const maxPromptLength = (def: number, modelParam = 'model'): IntSpec => ({
  ...int(`Prompts are truncated (from the left) to this many tokens. Default: ${def}, or half the model's context if smaller.`, def, 1),
  capDefaultAtContextOf: modelParam,
  capFraction: 0.5,
});

/** The reward sources of the group-RL stages (grpo, rloo): several, summed with weights. */
export const rewardSources = {
  rewards: inputs('Reward sources, summed with `reward_weights`: judges (rules, user functions) and reward models.', ['judge', 'reward_model']),
  reward_weights: list('Weight of each reward source, in the order of `rewards` (default: all 1).', 'float', []),
} as const;

/** Group-RL stages: whole groups per batch, mini-batches that divide it, one weight per reward source. */
export function groupRules(p: { batch_size: number; num_generations: number; mini_batch_size: number; reward_weights: number[] }, ctx: RuleContext): RuleViolation[] {
  const out: RuleViolation[] = [];
  if (p.batch_size % p.num_generations !== 0) out.push({ path: 'batch_size', message: `batch_size ${p.batch_size} is not a whole number of groups of num_generations ${p.num_generations}` });
  if (p.batch_size % p.mini_batch_size !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${p.mini_batch_size} does not divide batch_size ${p.batch_size}` });
  const n = Object.keys(ctx.inputs).filter((k) => k.startsWith('rewards[')).length;
  const w = p.reward_weights.length;
  if (w && n && w !== n) out.push({ path: 'reward_weights', message: `${w} weight${w === 1 ? '' : 's'} for ${n} reward sources` });
  return out;
}
