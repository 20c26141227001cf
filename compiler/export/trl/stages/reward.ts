// reward → TRL `RewardTrainer` on a sequence-classification model with one label; with
// `length_debias { }` (ODIN) its subclass OdinRewardTrainer (rlhf_export/odin.py).

import { loop, lora, optimizer, rowsOf } from '../rows.ts';
import type { StageExport } from '../writer.ts';
import { pyLit } from '../py.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/reward.ts';

/** Rows of reward's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const reward: StageExport = {
  classes: { trainer: 'RewardTrainer', config: 'RewardConfig', module: 'trl', doc: 'TRL `RewardTrainer` on `AutoModelForSequenceClassification(num_labels=1)`' },
  training: true,
  rows: [
    row((p) => p.max_seq_length, { into: 'config', fields: ['max_length'], note: 'TRL drops longer pairs instead of truncating them; it tokenizes prompt + response as one text where rlhfc tokenizes each by itself, so a prompt ending in a space (or a word cut in two) meets the response in another token' }),
    row((p) => p.use_margin, { script: 'the `margin` column is kept (RewardTrainer subtracts it inside the sigmoid) or removed' }),
    row((p) => p.center_rewards, { into: 'config', fields: ['center_rewards_coefficient'], value: (v) => ({ center_rewards_coefficient: v > 0 ? v : null }) }),
    row((p) => p.length_debias?.correlation, {
      script: '`OdinRewardTrainer(correlation=…)` (rlhf_export/odin.py), a RewardTrainer subclass with rlhfc\'s ODIN loss',
      unsupported: (v) => (v == null ? undefined : 'TRL\'s RewardTrainer has no disentangled (ODIN) reward head; the script trains with rlhf_export/odin.py\'s OdinRewardTrainer instead, whose lengths count the prompt\'s tokens too'),
      when: 'set',
    }),
    row((p) => p.length_debias?.orthogonality, { script: '`OdinRewardTrainer(orthogonality=…)` (rlhf_export/odin.py)' }),
    ...lora,
    ...loop,
    ...optimizer,
  ],
  emit(w) {
    w.argFor('model', `body to start from: ${w.describe('model')}`);
    w.argFor('tokenizer', `tokenizer folder or Hub id (${w.describe('tokenizer')})`);
    w.argFor('data', `preference triples: ${w.describe('data')}`);
    w.add(...w.model('model', 'model', w.res['model'], 'scalar'));
    w.add('train, validation = common.load_split(args.data)');
    w.add('# RewardTrainer scores whole texts: it prepends the prompt column to chosen and rejected itself.');
    if (!w.p['use_margin']) w.add('# use_margin: false — the margin column is not used', 'train = train.remove_columns([c for c in ["margin"] if c in train.column_names])', 'if validation is not None:', '    validation = validation.remove_columns([c for c in ["margin"] if c in validation.column_names])');
    w.add(`config = ${w.configCall(reward.classes)}`);
    w.add(`peft_config = ${w.loraCall('SEQ_CLS')}`);
    const debias = w.p['length_debias'] as { correlation: number; orthogonality: number } | null;
    const save = { save: w.merge ? ', merge_lora=True, scalar_head=True' : '' };
    if (debias) {
      w.add('# length_debias (ODIN): a second, length output trained beside the score head and dropped at save (rlhf_export/odin.py)');
      w.trainer('rlhf_export.odin', 'OdinRewardTrainer', ['model=model', ...w.standard, 'peft_config=peft_config', `correlation=${pyLit(debias.correlation)}`, `orthogonality=${pyLit(debias.orthogonality)}`], save);
    } else w.trainer('trl', 'RewardTrainer', ['model=model', ...w.standard, 'peft_config=peft_config'], save);
  },
};
