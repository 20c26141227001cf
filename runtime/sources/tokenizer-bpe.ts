// The `bpe(data)` tokenizer constructor: a byte-level BPE trained on a text dataset.

import { input, int } from '../../core/schema.ts';
import { BPE_MIN_VOCAB } from '../tokenizers/types.ts';
import type { TokenizerSource } from './types.ts';

export const bpe: TokenizerSource = {
  name: 'bpe',
  doc: 'A byte-level BPE trained on a text dataset to a chosen vocabulary size.',
  args: [{ name: 'data', spec: input('Text dataset to train on.', ['text']) }],
  params: { vocab_size: int('Vocabulary size, including the 256 byte tokens and end-of-text.', 512, BPE_MIN_VOCAB, 65536) },
  produces: 'tokenizer',
  facts: (p) => ({ vocab_size: p['vocab_size'] as number }),
  async build(params, texts, log) {
    const { BpeTokenizer } = await import('../tokenizers/bpe.ts');
    const vocabSize = params['vocab_size'] as number;
    log(`training byte-level BPE to ${vocabSize} tokens on ${texts.length} documents`);
    return BpeTokenizer.train(texts, { vocabSize });
  },
};
