// The model shapes the benchmarks share (bench/train.ts, bench/generate.ts): GPT-2 blocks (`ref`,
// `large`, `gpt2`: GPT-2 small) and the Llama family (`smollm2`: SmolLM2-135M's shape), built through
// the one model interface so that a benchmark never names a family's code path.
import type { CausalLM } from '../runtime/model/causal-lm.ts';
import { GPT, type GPTConfig } from '../runtime/model/gpt.ts';
import { Llama, type LlamaConfig } from '../runtime/model/llama.ts';
import { loraModules } from '../runtime/model/lora-targets.ts';

/** A model of either family (`family` tells which). */
export type ModelShape = ({ family: 'gpt2' } & GPTConfig) | LlamaConfig;

export const SHAPES = {
  ref: { family: 'gpt2', vocabSize: 512, context: 64, width: 128, layers: 2, heads: 4, dropout: 0 },
  large: { family: 'gpt2', vocabSize: 512, context: 128, width: 256, layers: 4, heads: 4, dropout: 0 },
  gpt2: { family: 'gpt2', vocabSize: 50257, context: 256, width: 768, layers: 12, heads: 12, dropout: 0 },
  // HuggingFaceTB/SmolLM2-135M's config.json (a LlamaForCausalLM), with the context cut to 256 positions
  smollm2: {
    family: 'llama', vocabSize: 49152, context: 256, width: 576, layers: 30, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536,
    rmsNormEps: 1e-5, rope: { type: 'default', theta: 100000 }, tie: true, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0,
  },
} satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

/** The model of a shape, random weights from seed 1. */
export const makeModel = (shape: ModelShape): CausalLM => (shape.family === 'gpt2' ? new GPT(shape, { seed: 1 }) : new Llama(shape, { seed: 1 }));

/** Every projection of a family, by its PEFT short name (GPT-2: c_attn, c_proj, c_fc; Llama: q_proj … down_proj). */
export const loraTargets = (family: string): string[] => [...new Set(loraModules(family).map((m) => m.split('.').pop()!))];

/** What a shape is, for a benchmark's header line. */
export function describeShape(s: ModelShape): string {
  const common = `vocab ${s.vocabSize}, width ${s.width}, ${s.layers} layers, ${s.heads} heads`;
  if (s.family === 'gpt2') return `GPT-2 blocks: ${common}`;
  return `${s.family}: ${common}, ${s.kvHeads} KV heads, head_dim ${s.headDim}, intermediate ${s.intermediate}${s.tie ? ', tied head' : ''}`;
}
