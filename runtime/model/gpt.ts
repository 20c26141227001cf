// A GPT-2 in TensorFlow.js, nanoGPT style. Weights are tf.Variables keyed by the exact Hugging Face
// GPT-2 names and layouts (Conv1D: y = x·W + b with W [in,out]), so runtime/checkpoint.ts saves and
// loads them directly. Pre-LN blocks, causal self-attention, GELU (tanh), LM head tied to wte.
//
// Shapes: B batch, T positions, C width, V vocabulary, H heads, D = C/H, L = past + T keys.
// Inputs: ids int32 [B,T]; mask float32 [B,L] (1 real, 0 pad; left or right padding); segments
// int32 [B,L] (packed rows: attention within one segment, positions restart per segment).

import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../train/examples.ts';
import { Rng } from '../rng.ts';
import { Lora, type LoraModule, type LoraOptions, uid } from './lora.ts';
import { activation } from './activations.ts';
import { dropout, embed, layerNorm, linear, logProbOf, logSoftmax, pick, weightedMean } from './ops.ts';

export interface GPTConfig {
  vocabSize: number;
  /** Maximum positions (n_positions). */
  context: number;
  width: number;
  layers: number;
  heads: number;
  dropout: number;
  /** MLP width (n_inner); default 4·width. */
  inner?: number;
  /** LayerNorm ε (layer_norm_epsilon); default 1e-5. */
  layerNormEps?: number;
  /** MLP activation (activation_function, ./activations.ts); default gelu_new. */
  activation?: string;
}

export type HeadKind = 'value' | 'reward';

export interface GPTOptions {
  seed?: number;
  /** Optional heads to create: value (TRL `v_head.summary`), reward (HF `score`). */
  heads?: HeadKind[];
  /** false: allocate zeros instead of the random GPT-2 init (weights are about to be loaded). */
  init?: boolean;
}

/** Keys and values of earlier positions, per layer: [B,H,L,D] each. */
export interface KVCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
}

export interface ForwardOptions {
  training?: boolean;
  /** int32 [B,L] segment ids (packed rows). */
  segments?: tf.Tensor;
  /** Cached keys/values of the first L−T positions; `mask`/`segments` then cover all L positions. */
  past?: KVCache;
  /** Also return the keys/values of all L positions (for generation). */
  returnCache?: boolean;
}

/** A batch as tensors (what `toTensors` makes from runtime/train/examples.ts's `Batch`). */
export interface TensorBatch {
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
  targets: tf.Tensor2D;
  targetsMask: tf.Tensor2D;
  segments?: tf.Tensor2D;
  lastIndex?: tf.Tensor1D;
}

/** Tensors for a collated batch (create inside tf.tidy / variableGrads so they are freed). */
export function toTensors(b: Batch): TensorBatch {
  const s: [number, number] = [b.B, b.T];
  return {
    ids: tf.tensor2d(b.ids, s, 'int32'),
    mask: tf.tensor2d(b.mask, s, 'float32'),
    targets: tf.tensor2d(b.targets, s, 'int32'),
    targetsMask: tf.tensor2d(b.targetsMask, s, 'float32'),
    segments: b.segments.some((x) => x !== 0) ? tf.tensor2d(b.segments, s, 'int32') : undefined,
    lastIndex: tf.tensor1d(b.lastIndex, 'int32'),
  };
}

const asTensors = (b: Batch | TensorBatch): TensorBatch => (b.ids instanceof tf.Tensor ? (b as TensorBatch) : toTensors(b as Batch));

/** Per-position entropy of the distributions given by logits [..., V] → [...]. */
export function entropy(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const lp = logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1));
  });
}

export class GPT {
  readonly config: GPTConfig;
  /** Every weight by its Hugging Face name (body, heads). */
  readonly weights = new Map<string, tf.Variable>();
  lora?: Lora;
  /** Initialisation and dropout seeds; saved in training checkpoints (with the LoRA stream). */
  readonly rng: Rng;

  constructor(config: GPTConfig, opts: GPTOptions = {}) {
    const { vocabSize: V, context: P, width: C, layers, heads } = config;
    const I = config.inner ?? 4 * C;
    if (C % heads !== 0) throw new Error(`width ${C} must be divisible by heads ${heads}`);
    this.config = { ...config };
    this.rng = new Rng(opts.seed ?? 0);
    const init = this.rng.fork();
    const random = opts.init ?? true;
    const normal = (shape: number[], std: number) =>
      random ? tf.tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => init.normal() * std), shape) : tf.zeros(shape);
    const residStd = 0.02 / Math.sqrt(2 * layers);
    this.set('transformer.wte.weight', normal([V, C], 0.02));
    this.set('transformer.wpe.weight', normal([P, C], 0.02));
    for (let i = 0; i < layers; i++) {
      const p = `transformer.h.${i}.`;
      this.set(p + 'ln_1.weight', tf.ones([C]));
      this.set(p + 'ln_1.bias', tf.zeros([C]));
      this.set(p + 'attn.c_attn.weight', normal([C, 3 * C], 0.02));
      this.set(p + 'attn.c_attn.bias', tf.zeros([3 * C]));
      this.set(p + 'attn.c_proj.weight', normal([C, C], residStd));
      this.set(p + 'attn.c_proj.bias', tf.zeros([C]));
      this.set(p + 'ln_2.weight', tf.ones([C]));
      this.set(p + 'ln_2.bias', tf.zeros([C]));
      this.set(p + 'mlp.c_fc.weight', normal([C, I], 0.02));
      this.set(p + 'mlp.c_fc.bias', tf.zeros([I]));
      this.set(p + 'mlp.c_proj.weight', normal([I, C], residStd));
      this.set(p + 'mlp.c_proj.bias', tf.zeros([C]));
    }
    this.set('transformer.ln_f.weight', tf.ones([C]));
    this.set('transformer.ln_f.bias', tf.zeros([C]));
    for (const h of opts.heads ?? []) this.addHead(h);
  }

  /** Build a model from named weights (e.g. `loadModel(dir).weights`); heads are created when present. */
  static fromWeights(config: GPTConfig, weights: Map<string, { shape: number[]; data: Float32Array }>, opts: GPTOptions = {}): GPT {
    const heads: HeadKind[] = [];
    if (weights.has('v_head.summary.weight')) heads.push('value');
    if (weights.has('score.weight')) heads.push('reward');
    const m = new GPT(config, { ...opts, init: false, heads: [...new Set([...heads, ...(opts.heads ?? [])])] });
    for (const [name, w] of weights) {
      const v = m.weights.get(name);
      if (!v) throw new Error(`weight ${name} is not part of this GPT`);
      if (v.shape.join() !== w.shape.join()) throw new Error(`weight ${name}: expected [${v.shape}], got [${w.shape}]`);
      tf.tidy(() => v.assign(tf.tensor(w.data, w.shape)));
    }
    return m;
  }

  private set(name: string, t: tf.Tensor): void {
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

  /** Add a value head (`v_head.summary.weight` [1,C], `.bias` [1]) or reward head (`score.weight` [1,C]). */
  addHead(kind: HeadKind): void {
    const C = this.config.width;
    const r = this.rng.fork();
    const normal = () => tf.tensor2d(new Float32Array(C).map(() => r.normal() * 0.02), [1, C]);
    if (kind === 'value' && !this.weights.has('v_head.summary.weight')) {
      this.set('v_head.summary.weight', normal());
      this.set('v_head.summary.bias', tf.zeros([1]));
    }
    if (kind === 'reward' && !this.weights.has('score.weight')) this.set('score.weight', normal());
  }

  hasHead(kind: HeadKind): boolean {
    return this.weights.has(kind === 'value' ? 'v_head.summary.weight' : 'score.weight');
  }

  /**
   * Attach LoRA adapters. The body is then frozen: `trainable()` lists adapters + heads, and the body's
   * products skip weight gradients (asking variableGrads for a body weight then yields no gradient).
   */
  addLora(o: LoraOptions): Lora {
    if (this.lora) throw new Error('model already has LoRA adapters');
    this.lora = new Lora(this.config.layers, (l, m) => this.w(`transformer.h.${l}.${m}.weight`).shape as [number, number], { seed: this.rng.seed(), ...o });
    return this.lora;
  }

  /** Detach and free the LoRA adapters (e.g. after `mergeLora()` to keep the merged model only). */
  removeLora(): void {
    this.lora?.dispose();
    this.lora = undefined;
  }

  /** Fold LoRA into the base weights / undo it. */
  mergeLora(): void {
    this.lora?.merge((key) => this.w(`transformer.h.${key}.weight`));
  }
  unmergeLora(): void {
    this.lora?.unmerge((key) => this.w(`transformer.h.${key}.weight`));
  }

  /**
   * Variables to train, by name: with LoRA the adapters plus the heads, otherwise every weight.
   */
  trainable(): Map<string, tf.Variable> {
    if (!this.lora) return new Map(this.weights);
    const out = this.lora.named();
    for (const [n, v] of this.weights) if (n.startsWith('v_head.') || n.startsWith('score.')) out.set(n, v);
    return out;
  }

  /** With LoRA the body is frozen: its products skip the weight gradients (a third of the matmuls). */
  private get frozen(): boolean {
    return this.lora !== undefined;
  }

  private proj(layer: number, module: LoraModule, x: tf.Tensor, training: boolean): tf.Tensor {
    const p = `transformer.h.${layer}.${module}.`;
    const y = linear(x, this.w(p + 'weight') as tf.Tensor2D, this.w(p + 'bias') as tf.Tensor1D, this.frozen);
    const d = this.lora?.delta(layer, module, x, training);
    return d ? tf.add(y, d) : y;
  }

  /** c_attn as three projections (q, k, v) from slices of its weight: avoids slicing activations. */
  private qkv(layer: number, x: tf.Tensor, training: boolean): tf.Tensor[] {
    const p = `transformer.h.${layer}.attn.c_attn.`;
    const ws = tf.split(this.w(p + 'weight'), 3, 1) as tf.Tensor2D[];
    const bs = tf.split(this.w(p + 'bias'), 3, 0) as tf.Tensor1D[];
    const d = this.lora?.deltaSplit(layer, 'attn.c_attn', x, 3, training);
    return ws.map((w, j) => {
      const y = linear(x, w, bs[j], this.frozen);
      return d ? tf.add(y, d[j]) : y;
    });
  }

  private drop(x: tf.Tensor, training: boolean): tf.Tensor {
    return training ? dropout(x, this.config.dropout, this.rng.seed()) : x;
  }

  /**
   * Final hidden states [B,T,C] (after ln_f), plus the keys/values of all positions when `returnCache`.
   */
  forward(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): { hidden: tf.Tensor3D; cache?: KVCache } {
    const [B, T] = ids.shape as [number, number];
    const { width: C, heads: H, layers } = this.config;
    const D = C / H;
    const past = o.past?.k[0]?.shape[2] ?? 0;
    const L = past + T;
    if (L > this.config.context) throw new Error(`sequence of ${L} positions exceeds the model's context of ${this.config.context}`);
    if (mask && (mask.shape[0] !== B || mask.shape[1] !== L)) throw new Error(`mask must be [${B}, ${L}] (batch, cached + new positions), got [${mask.shape}]`);
    if (o.segments && (o.segments.shape[0] !== B || o.segments.shape[1] !== L)) throw new Error(`segments must be [${B}, ${L}], got [${o.segments.shape}]`);
    const training = o.training ?? false;
    const eps = this.config.layerNormEps ?? 1e-5;
    const act = activation(this.config.activation);
    const cache: KVCache = { k: [], v: [] };
    // allowed[b,q,k] = 1 when query q (absolute past+q) may attend key k.
    const causal = new Float32Array(T * L);
    for (let q = 0; q < T; q++) for (let k = 0; k <= past + q; k++) causal[q * L + k] = 1;
    const keyMask = mask ? tf.cast(mask, 'float32') : tf.ones([B, L]);
    let allowed: tf.Tensor = tf.mul(tf.tensor3d(causal, [1, T, L]), tf.reshape(keyMask, [B, 1, L]));
    if (o.segments) {
      const seg = tf.cast(o.segments, 'int32');
      const segQ = tf.reshape(tf.slice(seg, [0, past], [B, T]), [B, T, 1]);
      allowed = tf.mul(allowed, tf.cast(tf.equal(segQ, tf.reshape(seg, [B, 1, L])), 'float32'));
    }
    // Positions as HF computes them (cumsum of the mask − 1, clipped at 0), restarting per segment.
    const positions = tf.cast(tf.maximum(tf.sub(tf.sum(allowed, -1), 1), 0), 'int32');
    const bias = tf.reshape(tf.mul(tf.sub(1, allowed), -1e9), [B, 1, T, L]);

    const wte = this.w('transformer.wte.weight') as tf.Tensor2D;
    let x = tf.add(embed(wte, ids, this.frozen), embed(this.w('transformer.wpe.weight') as tf.Tensor2D, positions, this.frozen));
    x = this.drop(x, training);
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]) as tf.Tensor4D;
    for (let i = 0; i < layers; i++) {
      const p = `transformer.h.${i}.`;
      const a = layerNorm(x, this.w(p + 'ln_1.weight') as tf.Tensor1D, this.w(p + 'ln_1.bias') as tf.Tensor1D, eps);
      const [q, k0, v0] = this.qkv(i, a, training).map(heads);
      const k = o.past ? (tf.concat([o.past.k[i], k0], 2) as tf.Tensor4D) : k0;
      const v = o.past ? (tf.concat([o.past.v[i], v0], 2) as tf.Tensor4D) : v0;
      if (o.returnCache) {
        cache.k.push(k);
        cache.v.push(v);
      }
      const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(D)), k, false, true), bias);
      const att = this.drop(tf.softmax(scores, -1), training);
      const y = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B, T, C]);
      x = tf.add(x, this.drop(this.proj(i, 'attn.c_proj', y, training), training));
      const m = layerNorm(x, this.w(p + 'ln_2.weight') as tf.Tensor1D, this.w(p + 'ln_2.bias') as tf.Tensor1D, eps);
      const f = this.proj(i, 'mlp.c_proj', act(this.proj(i, 'mlp.c_fc', m, training)), training);
      x = tf.add(x, this.drop(f, training));
    }
    const hidden = layerNorm(x, this.w('transformer.ln_f.weight') as tf.Tensor1D, this.w('transformer.ln_f.bias') as tf.Tensor1D, eps) as tf.Tensor3D;
    return o.returnCache ? { hidden, cache } : { hidden };
  }

  /** Final hidden states [B,T,C]. */
  hidden(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor3D {
    return this.forward(ids, mask, { ...o, returnCache: false }).hidden;
  }

  /** LM head (tied to wte) on hidden states [...,C] → [...,V]. */
  head(hidden: tf.Tensor): tf.Tensor {
    return linear(hidden, tf.transpose(this.w('transformer.wte.weight')) as tf.Tensor2D, undefined, this.frozen);
  }

  /** Next-token logits [B,T,V]. */
  logits(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor3D {
    return this.head(this.hidden(ids, mask, o)) as tf.Tensor3D;
  }

  /** Mean cross-entropy over positions where targetsMask = 1 (pretraining; SFT's completion-only loss). */
  lmLoss(batch: Batch | TensorBatch, o: { training?: boolean } = {}): tf.Scalar {
    const b = asTensors(batch);
    const lp = logProbOf(this.logits(b.ids, b.mask, { training: o.training, segments: b.segments }), b.targets);
    return tf.neg(weightedMean(lp, b.targetsMask));
  }

  /** Log-probability of each target under the model [B,T] (DPO/PPO); mask them yourself. */
  tokenLogProbs(ids: tf.Tensor, mask: tf.Tensor | undefined, targets: tf.Tensor, o: ForwardOptions = {}): tf.Tensor2D {
    return logProbOf(this.logits(ids, mask, o), targets) as tf.Tensor2D;
  }

  /** Log-probs of targets [B,T] and per-position entropy [B,T] from one forward pass. */
  tokenLogProbsAndEntropy(ids: tf.Tensor, mask: tf.Tensor | undefined, targets: tf.Tensor, o: ForwardOptions = {}): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
    const lp = logSoftmax(this.logits(ids, mask, o));
    return { logProbs: pick(lp, targets) as tf.Tensor2D, entropy: tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1)) as tf.Tensor2D };
  }

  /** Value head per position [B,T] on given hidden states. */
  valuesFrom(hidden: tf.Tensor): tf.Tensor2D {
    if (!this.hasHead('value')) throw new Error('model has no value head (addHead("value"))');
    const v = linear(hidden, tf.transpose(this.w('v_head.summary.weight')) as tf.Tensor2D, this.w('v_head.summary.bias') as tf.Tensor1D);
    return tf.squeeze(v, [-1]) as tf.Tensor2D;
  }

  /** Value head per position [B,T]. */
  values(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): tf.Tensor2D {
    return this.valuesFrom(this.hidden(ids, mask, o));
  }

  /** Reward head read at each row's last real token: lastIndex int32 [B] → [B]. */
  rewards(ids: tf.Tensor, mask: tf.Tensor | undefined, lastIndex: tf.Tensor, o: ForwardOptions = {}): tf.Tensor1D {
    if (!this.hasHead('reward')) throw new Error('model has no reward head (addHead("reward"))');
    const h = this.hidden(ids, mask, o);
    const s = tf.squeeze(linear(h, tf.transpose(this.w('score.weight')) as tf.Tensor2D), [-1]);
    return pick(s, lastIndex) as tf.Tensor1D;
  }

  /** Weights with LoRA folded in (new tensors, base variables untouched) — for saving a merged model. */
  mergedWeights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, v] of this.weights) out.set(n, v);
    if (this.lora && !this.lora.isMerged) {
      for (const key of this.lora.adapters.keys()) {
        const name = `transformer.h.${key}.weight`;
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

