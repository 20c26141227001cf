// dpo → TRL `DPOTrainer` with a frozen reference.

import { loop, lora, optimizer, positive, chatTemplate } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';

export const dpo: StageExport = {
  classes: { trainer: 'DPOTrainer', config: 'DPOConfig', module: 'trl', doc: 'TRL `DPOTrainer`' },
  training: true,
  rows: [
    chatTemplate,
    { param: 'beta', into: 'config', fields: ['beta'] },
    { param: 'loss', into: 'config', fields: ['loss_type'] },
    {
      param: 'label_smoothing',
      into: 'config',
      fields: ['label_smoothing'],
      when: '> 0',
      unsupported: positive("TRL 1.x's sigmoid DPO loss has no label smoothing (conservative DPO); its `robust` loss is a different estimator"),
    },
    { param: 'max_seq_length', into: 'config', fields: ['max_length'], note: 'DPOTrainer tokenizes prompt + response as one text where rlhfc tokenizes each by itself: a prompt ending in a space (or a word cut in two) meets the response in another token' },
    { param: 'max_prompt_length', script: 'prompts are truncated from the left to this many tokens before DPOTrainer tokenizes the pairs (TRL 1.x has no max_prompt_length)' },
    ...lora,
    ...loop,
    ...optimizer,
  ],
  emit(w) {
    const n = w.n;
    w.argFor('model', `policy to optimise: ${w.describe('model')}`);
    w.argFor('reference', `frozen reference: ${w.describe('reference')}`);
    w.argFor('data', `preference triples: ${w.describe('data')}`);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'));
    if (n.inputs['reference']) w.add(...w.model('ref_model', 'reference', w.res['reference'], 'lm', false));
    else w.add('ref_model = None  # the reference is the policy\'s starting weights (TRL copies them, or disables the adapter)');
    w.add('train, validation = common.load_split(args.data)');
    w.add(`MAX_PROMPT_LENGTH = ${pyLit(w.p['max_prompt_length'])}  # max_prompt_length: prompts keep their last tokens`);
    w.add('train = train.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))', 'if validation is not None:', '    validation = validation.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))');
    w.add(`config = ${w.configCall(dpo.classes)}`);
    w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
    w.trainer('trl', 'DPOTrainer', ['model=model', 'ref_model=ref_model', ...w.standard, 'peft_config=peft_config']);
  },
};
