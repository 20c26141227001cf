// What every decoder family shares once its body turns ids into hidden states: weights by their
// Hugging Face names, the trainable set, LoRA bookkeeping, and the one token log-prob with what is
// built on it (LM loss, sequence log-probs, entropy, values). A family (./gpt.ts, ./llama.ts) supplies
// its body (`forward`, `hidden`), its LM head, its value and reward heads and where its layers' LoRA
// adapters live (`layerPrefix`).

import * as tf from '@tensorflow/tfjs';
import { asTensors, type Batch, type TensorBatch } from './batch.ts';
import type { Rng } from '../rng.ts';
import type { CausalLM, CausalLMConfig, ForwardOptions, HeadKind, KVCache, KVSlots } from './causal-lm.ts';
import { uid, type Lora, type LoraOptions } from './lora.ts';
import { headLogProbs, logSoftmax, pick, weightedMean } from './ops.ts';

export abstract class Decoder implements CausalLM {
  abstract readonly family: string;
  abstract readonly config: CausalLMConfig;
  /** Every weight by its Hugging Face name (body, heads). */
  readonly weights = new Map<string, tf.Variable>();
  lora?: Lora;
  /** Initialisation and dropout seeds; saved in training checkpoints (with the LoRA stream). */
  abstract readonly rng: Rng;
  /** The weight-name prefix of LoRA adapter keys `${layer}.${module}`: `transformer.h.` (GPT-2), `model.layers.` (Llama). */
  protected abstract readonly layerPrefix: string;

  abstract forward(ids: tf.Tensor, mask?: tf.Tensor, o?: ForwardOptions): { hidden: tf.Tensor3D; cache?: KVCache };
  abstract kvSlots(B: number, capacity: number): KVSlots | undefined;
  abstract head(hidden: tf.Tensor): tf.Tensor;
  /** The LM head's weight [V, C] (`head` is hidden·wᵀ with it; no bias). */
  protected abstract headWeight(): tf.Tensor2D;
  abstract valuesFrom(hidden: tf.Tensor): tf.Tensor2D;
  abstract rewards(ids: tf.Tensor, mask: tf.Tensor | undefined, lastIndex: tf.Tensor, o?: ForwardOptions): tf.Tensor1D;
  abstract addHead(kind: HeadKind): void;
  abstract addLora(o: LoraOptions): Lora;

  /** Copy named weights (e.g. a checkpoint's) into this model's variables: every name must be one of its weights, with its shape. */
  protected assignAll(weights: Map<string, { shape: number[]; data: Float32Array }>, what: string): void {
    for (const [name, w] of weights) {
      const v = this.weights.get(name);
      if (!v) throw new Error(`weight ${name} is not part of this ${what}`);
      if (v.shape.join() !== w.shape.join()) throw new Error(`weight ${name}: expected [${v.shape}], got [${w.shape}]`);
      tf.tidy(() => v.assign(tf.tensor(w.data, w.shape)));
    }
  }

  protected set(name: string, t: tf.Tensor): void {
    this.weights.get(name)?.dispose();
    this.weights.set(name, tf.variable(t, true, `${name}_${uid()}`));
    t.dispose();
  }

  /** A weight by HF name (throws a clear error when absent). */
  w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`model has no weight ${name}`);
    return v;
  }

  hasHead(kind: HeadKind): boolean {
    return this.weights.has(kind === 'value' ? 'v_head.summary.weight' : 'score.weight');
  }

  /** Detach and free the LoRA adapters (e.g. after `mergeLora()` to keep the merged model only). */
  removeLora(): void {
    this.lora?.dispose();
    this.lora = undefined;
  }

  /** Fold LoRA into the base weights / undo it. */
  mergeLora(): void {
    this.lora?.merge((key) => this.w(`${this.layerPrefix}${key}.weight`));
  }
  unmergeLora(): void {
    this.lora?.unmerge((key) => this.w(`${this.layerPrefix}${key}.weight`));
  }

  /** Variables to train, by name: with LoRA the adapters plus the heads, otherwise every weight. */
  trainable(): Map<string, tf.Variable> {
    if (!this.lora) return new Map(this.weights);
    const out = this.lora.named();
    for (const [n, v] of this.weights) if (n.startsWith('v_head.') || n.startsWith('score.')) out.set(n, v);
    return out;
  }

  /** With LoRA the body is frozen: its products skip the weight gradients (a third of the matmuls). */
  protected get frozen(): boolean {
    return this.lora !== undefined;
  }

  /** Final hidden states [B,T,C]. */
  hidden(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor3D {
    return this.forward(ids, mask, { ...o, returnCache: false }).hidden;
  }

  /** Next-token logits [B,T,V]. */
  logits(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor3D {
    return this.head(this.hidden(ids, mask, o)) as tf.Tensor3D;
  }

  /** Mean cross-entropy over positions where targetsMask = 1 (pretraining; SFT's completion-only loss). */
  lmLoss(batch: Batch | TensorBatch, o: { training?: boolean } = {}): tf.Scalar {
    const b = asTensors(batch);
    const lp = this.logProbsFrom(this.hidden(b.ids, b.mask, { training: o.training, segments: b.segments }), b.targets);
    return tf.neg(weightedMean(lp, b.targetsMask));
  }

  /**
   * Log-probability of each target [B,T] given hidden states: the one token log-prob of rlhfc (ppo,
   * dpo and eval all come here). `temperature` divides the logits first (eval's KL at the sampling
   * temperature). Mask the positions yourself.
   */
  logProbsFrom(hidden: tf.Tensor, targets: tf.Tensor, temperature = 1): tf.Tensor2D {
    return headLogProbs(hidden, this.headWeight(), targets, temperature, this.frozen) as tf.Tensor2D;
  }

  /** Log-probs of targets [B,T] and the entropy of each position's distribution [B,T], from hidden states. */
  logProbsAndEntropyFrom(hidden: tf.Tensor, targets: tf.Tensor): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
    const lp = logSoftmax(this.head(hidden));
    return { logProbs: pick(lp, targets) as tf.Tensor2D, entropy: tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1)) as tf.Tensor2D };
  }

  /** Log-probability of each target under the model [B,T]; mask them yourself. */
  tokenLogProbs(ids: tf.Tensor, mask: tf.Tensor | undefined, targets: tf.Tensor, o: ForwardOptions & { temperature?: number } = {}): tf.Tensor2D {
    return this.logProbsFrom(this.hidden(ids, mask, o), targets, o.temperature);
  }

  /** Per row [B]: the sum of its targets' log-probs where targetsMask = 1 (dpo's sequence log-probs, eval's KL). */
  sequenceLogProbs(batch: Batch | TensorBatch, o: { temperature?: number } = {}): tf.Tensor1D {
    const b = asTensors(batch);
    return tf.sum(tf.mul(this.tokenLogProbs(b.ids, b.mask, b.targets, o), b.targetsMask), -1) as tf.Tensor1D;
  }

  /** Value head per position [B,T]. */
  values(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor2D {
    return this.valuesFrom(this.hidden(ids, mask, o));
  }

  /** Weights with LoRA folded in (new tensors, base variables untouched) — for saving a merged model. */
  mergedWeights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, v] of this.weights) out.set(n, v);
    if (this.lora && !this.lora.isMerged) {
      for (const key of this.lora.adapters.keys()) {
        const name = `${this.layerPrefix}${key}.weight`;
        out.set(name, tf.tidy(() => tf.add(this.w(name), this.lora!.deltaWeight(key))));
      }
    }
    return out;
  }

  /** Number of weights (body + heads, without adapters). */
  paramCount(): number {
    let n = 0;
    for (const v of this.weights.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
    this.lora?.dispose();
  }
}
