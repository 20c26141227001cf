// Stage `judge` (RLAIF): sample several responses per prompt, score them with a judge, and write a
// preference dataset (chosen = highest score, rejected = lowest) for `reward` or `dpo`.

import { input, int, str, withDefaults, type StageSchema } from './schema.ts';
import { generation, samplingRules } from './common.ts';

export const schema: StageSchema = {
  kind: 'judge',
  doc: 'Label preference pairs with an AI or rule judge (RLAIF).',
  params: {
    model: input('Model that writes the candidate responses.', ['causal_lm']),
    prompts: input('Prompts to answer.', ['prompts']),
    judge: input('Scores each (prompt, response): a rule judge, a user function, or a reward model.', ['judge', 'reward_model']),
    samples_per_prompt: int('Responses sampled per prompt.', 2, 2, 64),
    max_prompts: int('Use at most this many prompts (0: all).', 0, 0),
    max_prompt_length: int('Prompts are truncated (from the left) to this many tokens.', 32, 1),
    ties: str('Pairs whose best and worst scores are equal.', 'drop', ['drop', 'random']),
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
  },
  outputs: { data: 'preferences' },
  rules: (p, ctx) => samplingRules(p, ctx, 'model'),
};

export const defaults = withDefaults(schema.params, {});
