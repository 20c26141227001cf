// A GPT-2 in TensorFlow.js, nanoGPT style. Weights are tf.Variables keyed by the exact Hugging Face
// GPT-2 names and layouts (Conv1D: y = x·W + b with W [in,out]), so runtime/hf-checkpoint.ts saves and
// loads them directly. Pre-LN blocks, causal self-attention, GELU (tanh), LM head tied to wte.
//
// Shapes: B batch, T positions, C width, V vocabulary, H heads, D = C/H, L = past + T keys.
// Inputs: ids int32 [B,T]; mask float32 [B,L] (1 real, 0 pad; left or right padding); segments
// int32 [B,L] (packed rows: attention within one segment, positions restart per segment).

import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.ts';
import type { CausalLMConfig, ForwardOptions, HeadKind, KVCache, KVSlots } from './causal-lm.ts';
import { Decoder } from './decoder.ts';
import { Lora, type LoraModule, type LoraOptions } from './lora.ts';
import { activation } from './activations.ts';
import { attendCached, attendPacked, attention as attend, canAttendPacked, kvBuffer, dropout, embed, gelu, layerNorm, linear, linearGelu, linearT, logSoftmax, pick } from './ops.ts';

/** GPT-2's sizes (context is n_positions) and what else its config.json sets. */
export interface GPTConfig extends CausalLMConfig {
  /** MLP width (n_inner); default 4·width. */
  inner?: number;
  /** LayerNorm ε (layer_norm_epsilon); default 1e-5. */
  layerNormEps?: number;
  /** MLP activation (activation_function, ./activations.ts); default gelu_new. */
  activation?: string;
}

export type { ForwardOptions, HeadKind, KVCache, KVSlots } from './causal-lm.ts';

export interface GPTOptions {
  seed?: number;
  /** Optional heads to create: value (TRL `v_head.summary`), reward (HF `score`). */
  heads?: HeadKind[];
  /** false: allocate zeros instead of the random GPT-2 init (weights are about to be loaded). */
  init?: boolean;
}

/** Per-position entropy of the distributions given by logits [..., V] → [...]. */
export function entropy(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const lp = logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1));
  });
}

export class GPT extends Decoder {
  readonly family = 'gpt2';
  protected readonly layerPrefix = 'transformer.h.';
  readonly config: GPTConfig;
  /** Initialisation and dropout seeds; saved in training checkpoints (with the LoRA stream). */
  readonly rng: Rng;

  constructor(config: GPTConfig, opts: GPTOptions = {}) {
    super();
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
    m.assignAll(weights, 'GPT');
    return m;
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

  /**
   * Attach LoRA adapters. The body is then frozen: `trainable()` lists adapters + heads, and the body's
   * products skip weight gradients (asking variableGrads for a body weight then yields no gradient).
   */
  addLora(o: LoraOptions): Lora {
    if (this.lora) throw new Error('model already has LoRA adapters');
    this.lora = new Lora(this.config.layers, (l, m) => this.w(`transformer.h.${l}.${m}.weight`).shape as [number, number], { seed: this.rng.seed(), ...o });
    return this.lora;
  }

  /** A projection of layer i (with its LoRA delta), then `act` if given: GELU without LoRA is one fused op. */
  private proj(layer: number, module: LoraModule, x: tf.Tensor, training: boolean, act?: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
    const p = `transformer.h.${layer}.${module}.`;
    const [w, b] = [this.w(p + 'weight') as tf.Tensor2D, this.w(p + 'bias') as tf.Tensor1D];
    const d = this.lora?.delta(layer, module, x, training);
    if (act === gelu && !d) return linearGelu(x, w, b, this.frozen);
    const y = linear(x, w, b, this.frozen);
    const z = d ? tf.add(y, d) : y;
    return act ? act(z) : z;
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
    const past = o.kv ? o.kv.length : (o.past?.k[0]?.shape[2] ?? 0);
    if (o.kv && (o.past || o.returnCache)) throw new Error('forward: kv (a preallocated cache) replaces past and returnCache');
    if (o.kv && past + T > o.kv.k[0].shape[2]) throw new Error(`forward: ${past + T} positions exceed the KV cache's ${o.kv.k[0].shape[2]}`);
    this.checkInputs(B, past + T, mask, o.segments);
    const training = o.training ?? false;
    const { positions, bias } = attentionLayout(B, T, past, mask, o.segments);
    const cache: KVCache | undefined = o.returnCache ? { k: [], v: [] } : undefined;
    let x = tf.add(this.embedding('transformer.wte', ids), this.embedding('transformer.wpe', positions));
    x = this.drop(x, training);
    for (let i = 0; i < this.config.layers; i++) x = this.block(i, x, bias, training, o.past, cache, o.kv);
    if (o.kv) o.kv.length += T;
    const hidden = this.norm('transformer.ln_f', x) as tf.Tensor3D;
    return cache ? { hidden, cache } : { hidden };
  }

  /** One pre-LN transformer block: x + attention(ln_1(x)), then x + mlp(ln_2(x)). */
  private block(i: number, x: tf.Tensor, bias: tf.Tensor, training: boolean, past?: KVCache, cache?: KVCache, kv?: KVSlots): tf.Tensor {
    const p = `transformer.h.${i}.`;
    x = tf.add(x, this.drop(this.attention(i, this.norm(p + 'ln_1', x), bias, training, past, cache, kv), training));
    return tf.add(x, this.drop(this.mlp(i, this.norm(p + 'ln_2', x), training), training));
  }

  /** Causal self-attention of layer i: queries of the new positions over cached + new keys. */
  private attention(i: number, x: tf.Tensor, bias: tf.Tensor, training: boolean, past?: KVCache, cache?: KVCache, kv?: KVSlots): tf.Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const H = this.config.heads;
    const D = C / H;
    // without a KV cache: one c_attn product, and attention reading q, k, v in place (native backend)
    if (!past && !cache && !kv && canAttendPacked({ rate: training ? this.config.dropout : 0 })) {
      const qkv = this.proj(i, 'attn.c_attn', x, training) as tf.Tensor3D;
      if (training) this.rng.seed(); // the attention-dropout seed the other path draws (rate 0 here)
      return this.proj(i, 'attn.c_proj', attendPacked(qkv, bias, H), training);
    }
    // [B,T,C] → [B,H,T,D]; with one position (a sampling step) the transpose moves nothing: a reshape
    const heads = (t: tf.Tensor) => (T === 1 ? tf.reshape(t, [B, H, 1, D]) : tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3])) as tf.Tensor4D;
    // with a KV cache (sampling: a few rows per step) one c_attn product and a split of its small
    // output; otherwise (training without the packed kernel) products with slices of the weight
    const qkv = past || cache || kv ? tf.split(this.proj(i, 'attn.c_attn', x, training), 3, 2) : this.qkv(i, x, training);
    const [q, k0, v0] = qkv.map(heads);
    const merge = (y: tf.Tensor4D) => tf.reshape(T === 1 ? y : tf.transpose(y, [0, 2, 1, 3]), [B, T, C]);
    if (kv) return this.proj(i, 'attn.c_proj', merge(attendCached(q, k0, v0, kv.k[i], kv.v[i], kv.length, bias)), training);
    const k = past ? (tf.concat([past.k[i], k0], 2) as tf.Tensor4D) : k0;
    const v = past ? (tf.concat([past.v[i], v0], 2) as tf.Tensor4D) : v0;
    cache?.k.push(k);
    cache?.v.push(v);
    // softmax(q·kᵀ/√D + bias) · v, with attention dropout when training (one fused kernel on native)
    const drop = training ? { rate: this.config.dropout, seed: this.rng.seed() } : undefined;
    return this.proj(i, 'attn.c_proj', merge(attend(q, k, v, bias, drop)), training);
  }

  /** The MLP of layer i: c_proj(act(c_fc(x))), act the config's activation_function (GPT-2: gelu_new). */
  private mlp(i: number, x: tf.Tensor, training: boolean): tf.Tensor {
    return this.proj(i, 'mlp.c_proj', this.proj(i, 'mlp.c_fc', x, training, activation(this.config.activation)), training);
  }

  /** LayerNorm with the weights under `prefix` (`transformer.h.0.ln_1`, `transformer.ln_f`). */
  private norm(prefix: string, x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.w(`${prefix}.weight`) as tf.Tensor1D, this.w(`${prefix}.bias`) as tf.Tensor1D, this.config.layerNormEps ?? 1e-5);
  }

  /** Rows of the token (`transformer.wte`) or position (`transformer.wpe`) table. */
  private embedding(table: string, ids: tf.Tensor): tf.Tensor {
    return embed(this.w(`${table}.weight`) as tf.Tensor2D, ids, this.frozen);
  }

  private checkInputs(B: number, L: number, mask?: tf.Tensor, segments?: tf.Tensor): void {
    if (L > this.config.context) throw new Error(`sequence of ${L} positions exceeds the model's context of ${this.config.context}`);
    if (mask && (mask.shape[0] !== B || mask.shape[1] !== L)) throw new Error(`mask must be [${B}, ${L}] (batch, cached + new positions), got [${mask.shape}]`);
    if (segments && (segments.shape[0] !== B || segments.shape[1] !== L)) throw new Error(`segments must be [${B}, ${L}], got [${segments.shape}]`);
  }

  /**
   * A KV cache for B rows of up to `capacity` positions, written in place by `forward({ kv })`: only on
   * the native backend (undefined elsewhere: use past/returnCache). Dispose its tensors when done.
   */
  kvSlots(B: number, capacity: number): KVSlots | undefined {
    const { layers, heads, width } = this.config;
    const shape: [number, number, number, number] = [B, heads, capacity, width / heads];
    const first = kvBuffer(shape);
    if (!first) return undefined;
    const bufs = [first, ...Array.from({ length: 2 * layers - 1 }, () => kvBuffer(shape)!)];
    return { k: bufs.slice(0, layers), v: bufs.slice(layers), length: 0 };
  }

  /** LM head (tied to wte) on hidden states [...,C] → [...,V]. */
  head(hidden: tf.Tensor): tf.Tensor {
    return linearT(hidden, this.headWeight(), undefined, this.frozen);
  }

  protected headWeight(): tf.Tensor2D {
    return this.w('transformer.wte.weight') as tf.Tensor2D;
  }

  /** Value head per position [B,T] on given hidden states. */
  valuesFrom(hidden: tf.Tensor): tf.Tensor2D {
    if (!this.hasHead('value')) throw new Error('model has no value head (addHead("value"))');
    const v = linear(hidden, tf.transpose(this.w('v_head.summary.weight')) as tf.Tensor2D, this.w('v_head.summary.bias') as tf.Tensor1D);
    return tf.squeeze(v, [-1]) as tf.Tensor2D;
  }

  /** Reward head read at each row's last real token: lastIndex int32 [B] → [B]. */
  rewards(ids: tf.Tensor, mask: tf.Tensor | undefined, lastIndex: tf.Tensor, o: ForwardOptions = {}): tf.Tensor1D {
    if (!this.hasHead('reward')) throw new Error('model has no reward head (addHead("reward"))');
    const h = this.hidden(ids, mask, o);
    const s = tf.squeeze(linear(h, tf.transpose(this.w('score.weight')) as tf.Tensor2D), [-1]);
    return pick(s, lastIndex) as tf.Tensor1D;
  }

}

/**
 * Which keys each query may attend and where each position sits, for B rows of T new positions
 * after `past` cached ones: bias [B,1,T,L] (0 allowed, −1e9 not: causal, padding, other segments)
 * and positions int32 [B,T] as HF computes them (cumsum of the mask − 1, clipped at 0), restarting
 * per segment. `window`: keys further back than this many indices are masked too (sliding-window
 * attention); positions are unaffected.
 */
export function attentionLayout(B: number, T: number, past: number, mask?: tf.Tensor, segments?: tf.Tensor, window?: number): { positions: tf.Tensor; bias: tf.Tensor } {
  const L = past + T;
  // allowed[b,q,k] = 1 when query q (absolute past+q) may attend key k.
  const causal = new Float32Array(T * L);
  for (let q = 0; q < T; q++) for (let k = 0; k <= past + q; k++) causal[q * L + k] = 1;
  const keyMask = mask ? tf.cast(mask, 'float32') : tf.ones([B, L]);
  let allowed: tf.Tensor = tf.mul(tf.tensor3d(causal, [1, T, L]), tf.reshape(keyMask, [B, 1, L]));
  if (segments) {
    const seg = tf.cast(segments, 'int32');
    const segQ = tf.reshape(tf.slice(seg, [0, past], [B, T]), [B, T, 1]);
    allowed = tf.mul(allowed, tf.cast(tf.equal(segQ, tf.reshape(seg, [B, 1, L])), 'float32'));
  }
  const positions = tf.cast(tf.maximum(tf.sub(tf.sum(allowed, -1), 1), 0), 'int32');
  if (window !== undefined && window < L) {
    // a sliding window (Mistral): query at index i sees keys at indices j with i − j < window, as transformers masks
    const near = new Float32Array(T * L);
    for (let q = 0; q < T; q++) for (let k = Math.max(0, past + q - window + 1); k <= past + q; k++) near[q * L + k] = 1;
    allowed = tf.mul(allowed, tf.tensor3d(near, [1, T, L]));
  }
  const bias = tf.reshape(tf.mul(tf.sub(1, allowed), -1e9), [B, 1, T, L]);
  return { positions, bias };
}
