// kto → TRL `KTOTrainer` on unpaired (prompt, completion, label) records.

import { chatTemplate, loop, lora, optimizer, rowsOf, usesChat } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/kto.ts';

/** Rows of kto's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const kto: StageExport = {
  classes: { trainer: 'KTOTrainer', config: 'KTOConfig', module: 'trl', doc: 'TRL `KTOTrainer` (loss_type kto) on unpaired completions' },
  training: true,
  rows: [
    chatTemplate,
    row((p) => p.beta, { into: 'config', fields: ['beta'] }),
    row((p) => p.desirable_weight, { into: 'config', fields: ['desirable_weight'] }),
    row((p) => p.undesirable_weight, { into: 'config', fields: ['undesirable_weight'] }),
    row((p) => p.max_seq_length, { into: 'config', fields: ['max_length'] }),
    row((p) => p.max_prompt_length, { script: 'prompts are truncated from the left to this many tokens before KTOTrainer tokenizes the examples (TRL 1.13 has no max_prompt_length)' }),
    ...lora,
    ...loop.map((r) =>
      r.param === 'batch_size'
        ? { ...r, note: `${r.note}; the KL reference point pairs each prompt with the previous completion within a batch: rlhfc rotates the global batch, TRL each process's batch (the same with one process)` }
        : r,
    ),
    ...optimizer,
  ],
  emit(w) {
    const n = w.n;
    w.argFor('model', `policy to optimise: ${w.describe('model')}`);
    w.argFor('reference', `frozen reference: ${w.describe('reference')}`);
    w.argFor('data', `unpaired examples: ${w.describe('data')}`);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'));
    if (n.inputs['reference']) w.add(...w.model('ref_model', 'reference', w.res['reference'], 'lm', false));
    else w.add('ref_model = None  # the reference is the policy\'s starting weights (TRL copies them, or disables the adapter)');
    w.add('train, validation = common.load_split(args.data)');
    if (usesChat(w.p)) {
      w.add('# chat_template: conversational records (a user turn, an assistant turn), which KTOTrainer renders with the chat template and splits as rlhfc does');
      w.add('train = train.map(lambda r: common.conversational(r, ("completion",)))', 'if validation is not None:', '    validation = validation.map(lambda r: common.conversational(r, ("completion",)))');
    } else {
      w.add(`MAX_PROMPT_LENGTH = ${pyLit(w.p['max_prompt_length'])}  # max_prompt_length: prompts keep their last tokens`);
      w.add('train = train.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))', 'if validation is not None:', '    validation = validation.map(lambda r: common.truncate_prompt(r, tokenizer, MAX_PROMPT_LENGTH))');
    }
    w.add('# KTOTrainer reads batches in dataset order (its mismatched KL pairs are precomputed per batch): shuffle once with the seed');
    w.add(`train = train.shuffle(seed=${pyLit(w.plan.seed)})`);
    w.add(`config = ${w.configCall(kto.classes)}`);
    w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`);
    w.trainer('trl', 'KTOTrainer', ['model=model', 'ref_model=ref_model', ...w.standard, 'peft_config=peft_config']);
  },
};
