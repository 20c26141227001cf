// Stage `reward`: a reward model — a causal-LM body with a scalar head read at the last non-padding
// token — trained on (prompt, chosen, rejected) with the pairwise loss −log σ(r_c − r_r − margin).

import { bool, float, input, withDefaults, type StageSchema } from './schema.ts';
import { lora, loop, maxSeqLength, modelRules, optimizer, tokenizerDoc } from './common.ts';

export const schema: StageSchema = {
  kind: 'reward',
  doc: 'Reward model on preference pairs; reports held-out accuracy.',
  params: {
    model: input('Body to start from (a causal LM).', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Preference triples (prompt, chosen, rejected[, margin]).', ['preferences']),
    max_seq_length: maxSeqLength(128),
    use_margin: bool('Subtract the dataset\'s margin column inside the sigmoid when present.', true),
    center_rewards: float('Coefficient c of the centering term c · mean((r_chosen + r_rejected)²) (0: off).', 0, 0),
    lora,
    ...loop({ batch_size: 8, epochs: 1, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'reward_model' },
  carries: { model: 'model' },
  rules: (p, ctx) => modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p['max_seq_length'] as number }]),
};

export const defaults = withDefaults(schema.params, {});
