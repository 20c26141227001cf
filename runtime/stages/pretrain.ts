// Stage `pretrain`: causal-LM training on raw text (domain pretraining).
// Tokenize, concatenate documents with end-of-text, cut into block_size chunks, train, report
// validation loss and perplexity.

import { input, str, withDefaults, type StageSchema } from './schema.ts';
import { loop, maxSeqLength, modelRules, optimizer, tokenizerDoc } from './common.ts';

export const schema: StageSchema = {
  kind: 'pretrain',
  doc: 'Causal-LM training on raw text; reports validation perplexity.',
  params: {
    model: input('Model to train: a `gpt` declaration, a loaded model, or an earlier stage\'s model.', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Raw text dataset.', ['text']),
    block_size: maxSeqLength(64, 'Tokens per training block.'),
    remainder: str('What to do with the tokens left after the last full block.', 'drop', ['drop', 'pad']),
    ...loop({ batch_size: 8, epochs: 1, eval_every: 100 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => modelRules(p, ctx, 'model', [{ path: 'block_size', value: p['block_size'] as number }]),
};

export const defaults = withDefaults(schema.params, {});
