// pretrain → Transformers `Trainer` on causal-LM blocks.

import { loop, optimizer, rowsOf } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/pretrain.ts';

/** Rows of pretrain's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const pretrain: StageExport = {
  classes: { trainer: 'Trainer', config: 'TrainingArguments', module: 'transformers', doc: 'Transformers `Trainer` on causal-LM blocks, labels = input ids' },
  training: true,
  rows: [
    row((p) => p.block_size, { script: 'documents are tokenized, joined with end-of-text and cut into blocks of block_size tokens', note: 'blocks overlap by one token so each token is predicted once (rlhfc reads one token past each block instead)' }),
    row((p) => p.remainder, { script: '`drop` drops the last partial block; `pad` pads it (padding is masked from the loss)' }),
    ...loop,
    ...optimizer,
  ],
  emit(w) {
    const p = w.p;
    w.argFor('model', `folder or Hub id of ${w.describe('model')}`);
    w.argFor('tokenizer', `tokenizer folder or Hub id (${w.describe('tokenizer')})`);
    w.argFor('data', `dataset folder of ${w.describe('data')}`);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'));
    w.add('train, validation = common.load_split(args.data)');
    w.add(`# block_size and remainder: documents joined with end-of-text, cut into blocks`);
    w.add(`train = common.pack_text(train["text"], tokenizer, block_size=${pyLit(p['block_size'])}, remainder=${pyLit(p['remainder'])})`);
    w.add(`if validation is not None:`, `    validation = common.pack_text(validation["text"], tokenizer, block_size=${pyLit(p['block_size'])}, remainder=${pyLit(p['remainder'])})`);
    w.add(`config = ${w.configCall(pretrain.classes)}`);
    w.use('transformers', 'default_data_collator');
    w.use('math');
    w.trainer(
      'transformers',
      'Trainer',
      [
        'model=model',
        'args=config',
        'train_dataset=train',
        'eval_dataset=validation',
        'data_collator=default_data_collator  # causal-LM batches: labels are the input ids (see common.pack_text)',
        'processing_class=tokenizer',
      ],
      { evaluate: ['if validation is not None:', '    metrics = trainer.evaluate()', '    metrics["eval_perplexity"] = math.exp(metrics["eval_loss"])', '    trainer.log_metrics("eval", metrics)'], save: '' },
    );
  },
};
