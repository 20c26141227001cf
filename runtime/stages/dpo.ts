// Stage `dpo`: Direct Preference Optimization against a frozen reference (TRL's DPOTrainer losses).

import { float, input, int, str, withDefaults, type StageSchema } from './schema.ts';
import { lora, loop, maxSeqLength, modelRules, optimizer } from './common.ts';

export const schema: StageSchema = {
  kind: 'dpo',
  doc: 'Direct preference optimisation on preference triples.',
  params: {
    model: input('Policy to optimise; its starting weights are the reference unless `reference` is given.', ['causal_lm']),
    reference: input('Frozen reference model (default: the policy\'s starting weights).', ['causal_lm'], false),
    data: input('Preference triples.', ['preferences']),
    beta: float('Strength of the implicit KL constraint.', 0.1, 0, undefined, { minExclusive: true }),
    loss: str('Loss form.', 'sigmoid', ['sigmoid', 'ipo', 'hinge']),
    label_smoothing: float('Conservative DPO: assumed probability that a label is flipped.', 0, 0, 0.5, { maxExclusive: true }),
    max_seq_length: maxSeqLength(128),
    max_prompt_length: int('Prompts are truncated (from the left) to this many tokens.', 64, 1),
    lora,
    ...loop({ batch_size: 8, epochs: 1, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => {
    const out = modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p['max_seq_length'] as number }]);
    if ((p['max_prompt_length'] as number) >= (p['max_seq_length'] as number)) {
      out.push({ path: 'max_prompt_length', message: 'max_prompt_length must be smaller than max_seq_length' });
    }
    if ((p['label_smoothing'] as number) > 0 && p['loss'] !== 'sigmoid') {
      out.push({ path: 'label_smoothing', message: `label_smoothing applies to the sigmoid loss only, not '${p['loss']}'` });
    }
    return out;
  },
};

export const defaults = withDefaults(schema.params, {});
