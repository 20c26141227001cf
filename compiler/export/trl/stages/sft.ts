// sft → TRL `SFTTrainer` on prompt/completion records.

import { chatTemplate, loop, lora, optimizer, rowsOf, usesChat } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/sft.ts';

/** Rows of sft's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const sft: StageExport = {
  classes: { trainer: 'SFTTrainer', config: 'SFTConfig', module: 'trl', doc: 'TRL `SFTTrainer` on prompt/completion records' },
  training: true,
  rows: [
    chatTemplate,
    row((p) => p.template, { script: 'prompt = the template up to {response} with {prompt} filled in; completion = response + the rest + end-of-text; each tokenized by itself (common.apply_template), so SFTTrainer gets the token ids rlhfc trains on' }),
    row((p) => p.completion_only, { into: 'config', fields: ['completion_only_loss'] }),
    row((p) => p.max_seq_length, { into: 'config', fields: ['max_length'], note: 'records are cut as rlhfc cuts them (the prompt keeps its end, the completion its start) before SFTTrainer sees them' }),
    row((p) => p.packing, { into: 'config', fields: ['packing'] }),
    ...lora,
    ...loop,
    ...optimizer,
  ],
  emit(w) {
    w.argFor('model', `folder or Hub id of ${w.describe('model')}`);
    w.argFor('tokenizer', `tokenizer folder or Hub id (${w.describe('tokenizer')})`);
    w.argFor('data', `prompt/response pairs: ${w.describe('data')}`);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'));
    w.add('train, validation = common.load_split(args.data)');
    const maxLength = `MAX_LENGTH = ${pyLit(w.p['max_seq_length'])}  # max_seq_length: the prompt keeps its end, the completion its start`;
    if (usesChat(w.p)) {
      w.add(maxLength);
      w.add('# chat_template: the pair becomes a user turn (context only) + the assistant turn (learned), rendered with the chat template and tokenized as rlhfc does');
      w.add('train = train.map(lambda r: common.apply_chat(r, tokenizer, MAX_LENGTH), remove_columns=train.column_names)');
      w.add('if validation is not None:', '    validation = validation.map(lambda r: common.apply_chat(r, tokenizer, MAX_LENGTH), remove_columns=validation.column_names)');
    } else {
      w.add(`# template: the pair becomes prompt (context only) + completion (learned), tokenized as rlhfc does`);
      w.add(`TEMPLATE = ${pyLit(w.p['template'])}`);
      w.add(maxLength);
      w.add('train = train.map(lambda r: common.apply_template(r, TEMPLATE, tokenizer, MAX_LENGTH), remove_columns=train.column_names)');
      w.add('if validation is not None:', '    validation = validation.map(lambda r: common.apply_template(r, TEMPLATE, tokenizer, MAX_LENGTH), remove_columns=validation.column_names)');
    }
    w.add(`config = ${w.configCall(sft.classes)}`);
    w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
    w.trainer('trl', 'SFTTrainer', ['model=model', ...w.standard, 'peft_config=peft_config']);
  },
};
