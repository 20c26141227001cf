// Stage `eval`: score several models' generations on held-out prompts with a judge and measure
// their KL to a reference model; writes a report.

import { input, inputs, int, withDefaults, type StageSchema } from './schema.ts';
import { generation, samplingRules } from './common.ts';

export const schema: StageSchema = {
  kind: 'eval',
  doc: 'Compare models: mean judge score and KL to a reference on held-out prompts.',
  params: {
    models: inputs('Models to evaluate.', ['causal_lm']),
    reference: input('Reference for KL (e.g. the SFT model).', ['causal_lm'], false),
    prompts: input('Held-out prompts.', ['prompts']),
    judge: input('Scores responses; ideally one not used in training.', ['judge', 'reward_model']),
    max_prompts: int('Use at most this many prompts (0: all).', 64, 0),
    max_prompt_length: int('Prompts are truncated (from the left) to this many tokens.', 32, 1),
    samples: int('Sample generations kept in the report per model.', 4, 0),
    generation: generation({ max_new_tokens: 24, temperature: 0.7 }),
  },
  outputs: { report: 'report' },
  rules: (p, ctx) =>
    Object.keys(ctx.inputs)
      .filter((k) => k.startsWith('models['))
      .flatMap((k) => samplingRules(p, ctx, k).map((v) => ({ ...v, message: `${k}: ${v.message}` }))),
};

export const defaults = withDefaults(schema.params, {});
