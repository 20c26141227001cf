// The `llama { ... }` model constructor: a Llama-family decoder (RMSNorm, rotary positions, grouped-query
// attention, SwiGLU; `family` picks Llama, Qwen2 (q/k/v biases), Qwen3 (q/k norm) or Mistral) trained
// from scratch, saved in that family's Hugging Face layout.

import { bool, float, int, str } from '../../core/schema.ts';
import type { LlamaInit } from '../stage-context.ts';
import type { ModelSource } from './types.ts';

export const llama: ModelSource = {
  name: 'llama',
  doc: 'A Llama-family causal LM (Llama, Qwen2, Qwen3 or Mistral layout) trained from scratch, sized here.',
  args: [],
  params: {
    family: str('Layout and config.json model_type: llama, qwen2 (q/k/v biases), qwen3 (q/k RMSNorm) or mistral.', 'llama', ['llama', 'qwen2', 'qwen3', 'mistral']),
    layers: int('Decoder blocks.', 2, 1, 96),
    heads: int('Query heads.', 4, 1, 128),
    kv_heads: int('Key/value heads (grouped-query attention; must divide heads). 0: as many as heads.', 0, 0, 128),
    width: int('Hidden size.', 128, 8, 16384),
    head_dim: int('Width of each head. 0: width / heads.', 0, 0, 1024),
    intermediate: int('SwiGLU hidden size. 0: about 8/3 · width, rounded up to a multiple of 8.', 0, 0, 131072),
    context: int('Longest sequence (max_position_embeddings; rotary positions).', 128, 2, 131072),
    rope_theta: float('Rotary base period.', 10000, 1, 1e9),
    rms_norm_eps: float('RMSNorm ε.', 1e-6, 0, 1, { minExclusive: true }),
    tie: bool('Tie the LM head to the token embedding.', true),
    dropout: float('Attention dropout (attention_dropout) while training.', 0.0, 0, 1, { maxExclusive: true }),
  },
  produces: 'causal_lm',
  facts: (p) => ({
    model: { tokenized: false, family: p['family'] as string, context: p['context'] as number, layers: p['layers'] as number, heads: p['heads'] as number, width: p['width'] as number },
  }),
  rules: (p) => {
    const out: { path: string; message: string }[] = [];
    const [w, h, kv, hd] = [p['width'], p['heads'], p['kv_heads'], p['head_dim']] as number[];
    if (kv > 0 && h % kv !== 0) out.push({ path: 'kv_heads', message: `kv_heads (${kv}) must divide heads (${h})` });
    if (hd === 0 && w % h !== 0) out.push({ path: 'heads', message: `heads (${h}) must divide width (${w}), or set head_dim` });
    const d = hd || Math.floor(w / h);
    if (d % 2 !== 0) out.push({ path: hd ? 'head_dim' : 'heads', message: `the head width (${d}) must be even: rotary embeddings rotate pairs` });
    return out;
  },
  open: (p) => {
    const [w, h] = [p['width'], p['heads']] as number[];
    const init: LlamaInit = {
      family: p['family'] as LlamaInit['family'],
      layers: p['layers'] as number,
      heads: h,
      kvHeads: (p['kv_heads'] as number) || h,
      width: w,
      headDim: (p['head_dim'] as number) || Math.floor(w / h),
      intermediate: (p['intermediate'] as number) || Math.ceil((8 * w) / 3 / 8) * 8,
      context: p['context'] as number,
      ropeTheta: p['rope_theta'] as number,
      rmsNormEps: p['rms_norm_eps'] as number,
      tie: p['tie'] as boolean,
      dropout: p['dropout'] as number,
    };
    return { type: 'causal_lm', init };
  },
};
