// Stage `sft`: supervised fine-tuning on prompt/response pairs, loss on the response only by
// default, optionally with LoRA adapters.

import { bool, input, str, withDefaults, type StageSchema } from './schema.ts';
import { lora, loop, maxSeqLength, modelRules, optimizer, tokenizerDoc } from './common.ts';

export const schema: StageSchema = {
  kind: 'sft',
  doc: 'Supervised fine-tuning on prompt/response pairs (LoRA or full).',
  params: {
    model: input('Model to fine-tune.', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Prompt/response pairs.', ['pairs']),
    template: str('How a pair becomes text; must contain {prompt} and {response}. End-of-text is appended.', '{prompt}\n{response}'),
    completion_only: bool('Compute the loss on response tokens only.', true),
    max_seq_length: maxSeqLength(128),
    packing: bool('Pack several examples per row (attention does not cross examples).', false),
    lora,
    ...loop({ batch_size: 8, epochs: 3, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => {
    const out = modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p['max_seq_length'] as number }]);
    const t = p['template'] as string;
    for (const f of ['{prompt}', '{response}']) {
      if (!t.includes(f)) out.push({ path: 'template', message: `template must contain ${f}` });
    }
    const iResp = t.indexOf('{response}');
    if (t.includes('{prompt}') && iResp >= 0 && t.indexOf('{prompt}') > iResp) {
      out.push({ path: 'template', message: '{prompt} must come before {response} (the loss mask covers what follows the prompt)' });
    }
    return out;
  },
};

export const defaults = withDefaults(schema.params, {});
