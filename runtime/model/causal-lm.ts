// The one model interface: what the stages, train/lm.ts, the scorer, the KV-cache sampler (decode.ts)
// and LoRA use of a causal LM, whatever its family. GPT (./gpt.ts, GPT-2) and Llama (./llama.ts:
// Llama, Qwen2, Qwen3, Mistral) implement it.
//
// Shapes: B batch, T new positions, L = cached + new positions, C width, V vocabulary.

import type * as tf from '@tensorflow/tfjs';
import type { Batch, TensorBatch } from './batch.ts';
import type { Rng } from '../rng.ts';
import type { Lora, LoraOptions } from './lora.ts';

export type HeadKind = 'value' | 'reward';

/** Keys and values of earlier positions, per layer: [B,H,L,D] each (H: the key/value heads). */
export interface KVCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
}

/**
 * A preallocated KV cache (native and webgpu backends, from `kvSlots`): per layer [B,K,S,D] buffers (K kv heads) of which
 * the first `length` positions are filled. A forward pass with it writes the new positions' keys and
 * values in place and advances `length`; nothing is copied per step.
 */
export interface KVSlots {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
  length: number;
}

export interface ForwardOptions {
  training?: boolean;
  /** int32 [B,L] segment ids (packed rows). */
  segments?: tf.Tensor;
  /** Cached keys/values of the first L−T positions; `mask`/`segments` then cover all L positions. */
  past?: KVCache;
  /** Also return the keys/values of all L positions (for generation). */
  returnCache?: boolean;
  /** A preallocated cache holding the first L−T positions, written in place (instead of past/returnCache). */
  kv?: KVSlots;
}

/** The sizes every user of a model reads. */
export interface CausalLMConfig {
  vocabSize: number;
  /** Maximum positions. */
  context: number;
  width: number;
  layers: number;
  heads: number;
  dropout: number;
}

export interface CausalLM {
  /** The architecture family (`gpt2`, `llama`, `qwen2`, `qwen3`, `mistral`). */
  readonly family: string;
  readonly config: CausalLMConfig;
  /** Every weight by its Hugging Face name (body, heads). */
  readonly weights: Map<string, tf.Variable>;
  lora?: Lora;
  /** Initialisation and dropout seeds; saved in training checkpoints (with the LoRA stream). */
  readonly rng: Rng;

  w(name: string): tf.Variable;
  addHead(kind: HeadKind): void;
  hasHead(kind: HeadKind): boolean;
  addLora(o: LoraOptions): Lora;
  removeLora(): void;
  mergeLora(): void;
  unmergeLora(): void;
  /** Variables to train, by name: with LoRA the adapters plus the heads, otherwise every weight. */
  trainable(): Map<string, tf.Variable>;

  /** Final hidden states [B,T,C] (after the final norm), plus the keys/values of all positions when `returnCache`. */
  forward(ids: tf.Tensor, mask?: tf.Tensor, o?: ForwardOptions): { hidden: tf.Tensor3D; cache?: KVCache };
  /** A KV cache written in place by `forward({ kv })` (native and webgpu backends; undefined elsewhere). */
  kvSlots(B: number, capacity: number): KVSlots | undefined;
  hidden(ids: tf.Tensor, mask?: tf.Tensor, o?: ForwardOptions): tf.Tensor3D;
  /** LM head on hidden states [...,C] → [...,V]. */
  head(hidden: tf.Tensor): tf.Tensor;
  logits(ids: tf.Tensor, mask?: tf.Tensor, o?: ForwardOptions): tf.Tensor3D;
  lmLoss(batch: Batch | TensorBatch, o?: { training?: boolean }): tf.Scalar;
  logProbsFrom(hidden: tf.Tensor, targets: tf.Tensor, temperature?: number): tf.Tensor2D;
  logProbsAndEntropyFrom(hidden: tf.Tensor, targets: tf.Tensor): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D };
  tokenLogProbs(ids: tf.Tensor, mask: tf.Tensor | undefined, targets: tf.Tensor, o?: ForwardOptions & { temperature?: number }): tf.Tensor2D;
  sequenceLogProbs(batch: Batch | TensorBatch, o?: { temperature?: number }): tf.Tensor1D;
  valuesFrom(hidden: tf.Tensor): tf.Tensor2D;
  values(ids: tf.Tensor, mask?: tf.Tensor, o?: ForwardOptions): tf.Tensor2D;
  /** Reward head read at each row's last real token: lastIndex int32 [B] → [B]. */
  rewards(ids: tf.Tensor, mask: tf.Tensor | undefined, lastIndex: tf.Tensor, o?: ForwardOptions): tf.Tensor1D;
  /** Weights with LoRA folded in (new tensors where merged, base variables untouched). */
  mergedWeights(): Map<string, tf.Tensor>;
  paramCount(): number;
  dispose(): void;
}
