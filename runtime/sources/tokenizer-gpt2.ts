// The `gpt2` tokenizer constructor: GPT-2's exact byte-level BPE (r50k_base, via gpt-tokenizer).

import { GPT2_VOCAB_SIZE } from '../tokenizers/types.ts';
import type { TokenizerSource } from './types.ts';

export const gpt2: TokenizerSource = {
  name: 'gpt2',
  doc: 'The exact GPT-2 byte-level BPE (50,257 tokens).',
  args: [],
  params: {},
  produces: 'tokenizer',
  facts: () => ({ vocab_size: GPT2_VOCAB_SIZE }),
  async build() {
    const { Gpt2Tokenizer } = await import('../tokenizers/gpt2.ts');
    return new Gpt2Tokenizer();
  },
};
