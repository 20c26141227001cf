// The `gpt { ... }` model constructor: a GPT-2-architecture causal LM trained from scratch.

import { float, int } from '../../core/schema.ts';
import type { ModelSource } from './types.ts';

export const gpt: ModelSource = {
  name: 'gpt',
  doc: 'A GPT-2-architecture causal LM trained from scratch, sized here.',
  args: [],
  params: {
    layers: int('Transformer blocks.', 2, 1, 96),
    heads: int('Attention heads (must divide width).', 4, 1, 128),
    width: int('Embedding width.', 128, 8, 16384),
    context: int('Longest sequence (learned positions).', 128, 2, 32768),
    dropout: float('Dropout on embeddings, attention and residuals.', 0.0, 0, 1, { maxExclusive: true }),
  },
  produces: 'causal_lm',
  // A fresh model has no tokenizer until a stage binds one; its vocabulary comes from that tokenizer.
  facts: (p) => ({
    model: { tokenized: false, family: 'gpt2', context: p['context'] as number, layers: p['layers'] as number, heads: p['heads'] as number, width: p['width'] as number },
  }),
  rules: (p) => {
    const w = p['width'] as number;
    const h = p['heads'] as number;
    return w % h === 0 ? [] : [{ path: 'heads', message: `heads (${h}) must divide width (${w})` }];
  },
  open: (p) => ({
    type: 'causal_lm',
    init: { layers: p['layers'] as number, heads: p['heads'] as number, width: p['width'] as number, context: p['context'] as number, dropout: p['dropout'] as number },
  }),
};
