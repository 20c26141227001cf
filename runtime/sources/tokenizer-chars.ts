// The `chars(data)` tokenizer constructor: one token per character seen in a text dataset.

import { input } from '../../core/schema.ts';
import type { TokenizerSource } from './types.ts';

export const chars: TokenizerSource = {
  name: 'chars',
  doc: 'One token per character seen in a text dataset (plus unknown and end-of-text).',
  args: [{ name: 'data', spec: input('Text dataset whose characters form the vocabulary.', ['text']) }],
  params: {},
  produces: 'tokenizer',
  async build(_params, texts) {
    const { CharTokenizer } = await import('../tokenizers/chars.ts');
    return CharTokenizer.train(texts);
  },
};
