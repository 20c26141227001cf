// Parameter groups shared by several stage kinds: lengths, the group-RL parameters and the rules they
// share. The groups the training code reads (optimizer, loop, lora, generation, the on-policy stages'
// logging) live with that code: runtime/train/params.ts.
// Defaults follow TRL/Transformers where that makes sense for tiny CPU models; documented in docs/reference.md.

import { bool, input, inputs, int, list, type IntSpec, type RuleContext, type RuleViolation } from '../../core/schema.ts';
import { generation, lora, optimizer, rlStepLogging } from '../train/params.ts';
import { lengthShaping } from '../rl/length.ts';

export const maxSeqLength = (def: number, doc = 'Longest tokenized example; longer ones are truncated.'): IntSpec => ({
  ...int(`${doc} Default: ${def}, or the model's context if smaller.`, def, 2),
  capDefaultAtContextOf: 'model',
});

/** The chat-template switch (sft, dpo, kto, ppo, grpo, rloo, generate, eval). */
export const chatTemplate = bool(
  "Render each prompt as a one-turn user message with the model tokenizer's chat template (tokenizer_config.json's chat_template or chat_template.jinja), as transformers' apply_chat_template(add_generation_prompt=True) renders it, before tokenizing; sft, dpo and kto add the response as the assistant turn's content followed by what the template closes the turn with (no extra end-of-text), split as TRL splits conversational prompt-completion data. The text is encoded with special tokens matched, as transformers does. `template` (sft) is not used.",
  false,
);

/** Rules shared by stages that take a model: a fresh `gpt` needs a tokenizer; lengths fit the context. */
export function modelRules(
  p: { optimizer?: { betas: number[] }; chat_template?: boolean },
  ctx: RuleContext,
  modelParam: string,
  lengths: { path: string; value: number }[],
): RuleViolation[] {
  const out: RuleViolation[] = [];
  const m = ctx.inputs[modelParam]?.model;
  if (p.chat_template && m && !m.chatTemplate) {
    out.push({
      path: 'chat_template',
      message: `chat_template is true but the tokenizer of ${modelParam} has no chat template (only a Hugging Face model folder whose tokenizer_config.json has a chat_template, or that has a chat_template.jinja, has one; gpt2, bpe and char tokenizers have none)`,
    });
  }
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
  p: { max_prompt_length: number; generation: { max_new_tokens: number; min_new_tokens: number }; optimizer?: { betas: number[] }; chat_template?: boolean },
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

/**
 * The parameters the group-RL stages (grpo, rloo) share: several weighted reward sources, prompts,
 * groups of `num_generations` answers, mini-batches and iterations, generation, LoRA, the optimizer
 * and logging. Each stage adds its own advantage and loss parameters.
 */
export function groupRLParams(o: { generations: number; generationsDoc: string }) {
  return {
    policy: input('Policy to optimise; its starting weights are the reference of the KL term.', ['causal_lm']),
    rewards: inputs('Reward sources, summed with `reward_weights`: judges (rules, user functions) and reward models.', ['judge', 'reward_model']),
    reward_weights: list('Weight of each reward source, in the order of `rewards` (default: all 1).', 'float', []),
    prompts: input('Prompts to answer.', ['prompts']),
    steps: int('Generation steps (each: batch_size answers generated, scored and optimised on).', 20, 1),
    batch_size: int('Answers generated per step: prompts per step × num_generations (TRL: the generation batch).', 32, 1),
    num_generations: int(o.generationsDoc, o.generations, 2),
    mini_batch_size: int('Answers per optimizer update; must divide batch_size (TRL: per-device batch size × processes).', 8, 1),
    num_iterations: int('Passes over each generation batch; more than 1 reuses the samples with importance ratios.', 1, 1),
    mask_truncated_completions: bool('Leave answers that hit max_new_tokens without end-of-text out of the loss.', false),
    max_prompt_length: maxPromptLength(32, 'policy'),
    chat_template: chatTemplate,
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
    length: lengthShaping,
    lora,
    optimizer,
    ...rlStepLogging,
  } as const;
}

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
