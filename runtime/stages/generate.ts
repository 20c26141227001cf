// Stage `generate`: sample responses to prompts and write them as a pairs dataset.

import { input, int, withDefaults, type StageSchema } from './schema.ts';
import { generation, samplingRules } from './common.ts';

export const schema: StageSchema = {
  kind: 'generate',
  doc: 'Sample a response per prompt; writes prompt/response pairs.',
  params: {
    model: input('Model that writes the responses.', ['causal_lm']),
    prompts: input('Prompts to answer.', ['prompts']),
    max_prompts: int('Use at most this many prompts (0: all).', 0, 0),
    max_prompt_length: int('Prompts are truncated (from the left) to this many tokens.', 32, 1),
    generation: generation({ max_new_tokens: 32, temperature: 0.7 }),
  },
  outputs: { data: 'pairs' },
  rules: (p, ctx) => samplingRules(p, ctx, 'model'),
};

export const defaults = withDefaults(schema.params, {});
