// dpo → TRL `DPOTrainer` with a frozen reference.

import { chatTemplate, loop, lora, optimizer, positive, rowsOf, usesChat } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/dpo.ts';

/** Rows of dpo's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const dpo: StageExport = {
  classes: { trainer: 'DPOTrainer', config: 'DPOConfig', module: 'trl', doc: 'TRL `DPOTrainer`' },
  training: true,
  rows: [
    chatTemplate,
    row((p) => p.beta, { into: 'config', fields: ['beta'] }),
    row((p) => p.loss, { into: 'config', fields: ['loss_type'] }),
    row((p) => p.label_smoothing, {
      into: 'config',
      fields: ['label_smoothing'],
      when: '> 0',
      unsupported: positive("TRL 1.x's sigmoid DPO loss has no label smoothing (conservative DPO); its `robust` loss is a different estimator"),
    }),
    row((p) => p.ld_alpha, {
      into: 'config',
      fields: ['ld_alpha'],
      value: (v) => ({ ld_alpha: v < 1 ? v : undefined }),
      note: 'set only below 1 (TRL: None, plain DPO); rlhfc counts response tokens (end-of-text included) after truncation, as TRL counts the completion mask',
    }),
    row((p) => p.max_seq_length, { into: 'config', fields: ['max_length'], note: 'DPOTrainer tokenizes prompt + response as one text where rlhfc tokenizes each by itself: a prompt ending in a space (or a word cut in two) meets the response in another token' }),
    row((p) => p.max_prompt_length, { script: 'prompts are truncated from the left to this many tokens before DPOTrainer tokenizes the pairs (TRL 1.x has no max_prompt_length)' }),
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
    if (usesChat(w.p)) {
      w.add('# chat_template: conversational records (a user turn, assistant turns), which DPOTrainer renders with the chat template and splits as rlhfc does');
      w.add('train = train.map(lambda r: common.conversational(r, ("chosen", "rejected")))', 'if validation is not None:', '    validation = validation.map(lambda r: common.conversational(r, ("chosen", "rejected")))');
    } else {
      w.add(`MAX_PROMPT_LENGTH = ${pyLit(w.p['max_prompt_length'])}  # max_prompt_length: prompts keep their last tokens`);
      w.add('train = train.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))', 'if validation is not None:', '    validation = validation.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))');
    }
    w.add(`config = ${w.configCall(dpo.classes)}`);
    w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
    w.trainer('trl', 'DPOTrainer', ['model=model', 'ref_model=ref_model', ...w.standard, 'peft_config=peft_config']);
  },
};
