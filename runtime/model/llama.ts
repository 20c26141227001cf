// The Llama family in TensorFlow.js, nanoGPT style: one decoder for LlamaForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM and MistralForCausalLM. Weights are tf.Variables keyed by the
// exact Hugging Face names and layouts (nn.Linear: y = x·Wᵀ + b with W [out,in]), so
// runtime/hf-checkpoint.ts saves and loads them directly. Pre-norm blocks with RMSNorm, rotary
// position embeddings on q and k, grouped-query causal self-attention (num_key_value_heads),
// optional q/k RMSNorm per head (Qwen3), optional attention biases (Qwen2: q, k, v), a SwiGLU MLP,
// a tied or separate LM head, and a sliding window per layer (Mistral, Qwen with use_sliding_window).
//
// Shapes: B batch, T positions, C width, V vocabulary, H query heads, K key/value heads, D head_dim,
// I intermediate, L = past + T keys. Inputs as for GPT (./gpt.ts): ids [B,T], mask [B,L], segments [B,L].

import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.ts';
import type { CausalLMConfig, ForwardOptions, HeadKind, KVCache, KVSlots } from './causal-lm.ts';
import { Decoder } from './decoder.ts';
import { attentionLayout } from './gpt.ts';
import { LLAMA_LORA_MODULES } from './lora-targets.ts';
import { Lora, type LoraLayout, type LoraOptions } from './lora.ts';
import { attendCached, attention as attend, embed, kvBuffer, linearLoraT, linearT, pick, rmsNorm, rotary, swiglu } from './ops.ts';

export type LlamaFamily = 'llama' | 'qwen2' | 'qwen3' | 'mistral';
export const LLAMA_FAMILIES: readonly LlamaFamily[] = ['llama', 'qwen2', 'qwen3', 'mistral'];

/** Rotary embedding parameters (transformers' `rope_parameters`; the rope types rlhfc computes). */
export interface RopeConfig {
  type: 'default' | 'linear' | 'dynamic' | 'llama3' | 'yarn';
  theta: number;
  factor?: number;
  /** llama3, yarn */
  originalMaxPositions?: number;
  /** llama3 */
  lowFreqFactor?: number;
  highFreqFactor?: number;
  /** yarn */
  attentionFactor?: number;
  betaFast?: number;
  betaSlow?: number;
  mscale?: number;
  mscaleAllDim?: number;
  truncate?: boolean;
}

export interface LlamaConfig extends CausalLMConfig {
  family: LlamaFamily;
  /** num_key_value_heads (K); H must be a multiple of it. */
  kvHeads: number;
  /** head_dim (D), which may differ from width / heads. */
  headDim: number;
  /** intermediate_size (I). */
  intermediate: number;
  rmsNormEps: number;
  rope: RopeConfig;
  /** tie_word_embeddings: the LM head is the token embedding. */
  tie: boolean;
  /** Biases on q, k, v (Qwen2; Llama/Qwen3 `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama/Qwen3 `attention_bias`). */
  oBias: boolean;
  /** Biases on the MLP projections (Llama `mlp_bias`). */
  mlpBias: boolean;
  /** RMSNorm of q and k per head before the rotation (Qwen3). */
  qkNorm: boolean;
  /** Per layer: the sliding attention window, or undefined for full causal attention. */
  windows?: (number | undefined)[];
  /** Outputs of the reward head `score` (num_labels; default 1). */
  numLabels?: number;
}

export interface LlamaOptions {
  seed?: number;
  heads?: HeadKind[];
  /** false: allocate zeros instead of the random init (weights are about to be loaded). */
  init?: boolean;
  /** false: an untied model without `lm_head` (a reward model saved as *ForSequenceClassification). */
  lmHead?: boolean;
}

/** The block projections LoRA can target, as PEFT names them. */
export const LLAMA_LORA: Omit<LoraLayout, 'family'> = {
  modules: LLAMA_LORA_MODULES,
  prefix: 'base_model.model.model.layers.',
  weights: 'out_in',
};

/**
 * The inverse frequencies [D/2] and the cos/sin scaling of a rope configuration, as transformers 5.18
 * computes them (modeling_rope_utils.py) for positions below `maxPositions`: `dynamic` rescales only
 * beyond max_position_embeddings, which rlhfc never reaches (longer inputs are refused), so inside the
 * context it equals `default`.
 */
export function ropeFrequencies(rope: RopeConfig, headDim: number, maxPositions: number): { invFreq: Float32Array; scaling: number } {
  const dim = headDim;
  const base = rope.theta;
  const f32 = (x: number) => Math.fround(x);
  // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32
  const plain = Array.from({ length: dim / 2 }, (_, i) => f32(1 / f32(base ** f32(f32(2 * i) / dim))));
  if (rope.type === 'default' || rope.type === 'dynamic') return { invFreq: Float32Array.from(plain), scaling: 1 };
  const factor = rope.factor as number;
  if (rope.type === 'linear') return { invFreq: Float32Array.from(plain.map((x) => x / factor)), scaling: 1 };
  const original = rope.originalMaxPositions ?? maxPositions;
  if (rope.type === 'llama3') {
    const low = rope.lowFreqFactor as number;
    const high = rope.highFreqFactor as number;
    const lowWavelen = original / low;
    const highWavelen = original / high;
    const out = plain.map((inv) => {
      const wavelen = (2 * Math.PI) / inv;
      const scaled = wavelen > lowWavelen ? inv / factor : inv;
      const smooth = (original / wavelen - low) / (high - low);
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      return medium ? (1 - smooth) * (scaled / factor) + smooth * scaled : scaled;
    });
    return { invFreq: Float32Array.from(out), scaling: 1 };
  }
  // yarn
  const mscaleOf = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  let attentionFactor = rope.attentionFactor;
  if (attentionFactor === undefined) attentionFactor = rope.mscale && rope.mscaleAllDim ? mscaleOf(factor, rope.mscale) / mscaleOf(factor, rope.mscaleAllDim) : mscaleOf(factor);
  const betaFast = rope.betaFast || 32;
  const betaSlow = rope.betaSlow || 1;
  const correctionDim = (rotations: number) => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let lo = correctionDim(betaFast);
  let hi = correctionDim(betaSlow);
  if (rope.truncate ?? true) {
    lo = Math.floor(lo);
    hi = Math.ceil(hi);
  }
  lo = Math.max(lo, 0);
  hi = Math.min(hi, dim - 1);
  if (lo === hi) hi += 0.001;
  const out = plain.map((_, i) => {
    const posFreq = f32(base ** f32(f32(2 * i) / dim));
    const extrapolation = f32(1 / posFreq);
    const interpolation = f32(1 / f32(factor * posFreq));
    const ramp = Math.min(1, Math.max(0, f32((i - lo) / (hi - lo))));
    const extrapolationFactor = f32(1 - ramp);
    return interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor;
  });
  return { invFreq: Float32Array.from(out), scaling: attentionFactor };
}

export class Llama extends Decoder {
  protected readonly layerPrefix = 'model.layers.';
  readonly config: LlamaConfig;
  readonly rng: Rng;
  /** The config.json this model was loaded from (saved back with its fields kept). */
  source?: Record<string, unknown>;
  private readonly invFreq: Float32Array;
  private readonly ropeScaling: number;

  constructor(config: LlamaConfig, opts: LlamaOptions = {}) {
    super();
    const { vocabSize: V, width: C, layers, heads: H, kvHeads: K, headDim: D, intermediate: I } = config;
    if (H % K !== 0) throw new Error(`heads ${H} must be a multiple of kv heads ${K}`);
    if (D % 2 !== 0) throw new Error(`head_dim ${D} must be even (rotary embeddings)`);
    this.config = { ...config };
    this.rng = new Rng(opts.seed ?? 0);
    const rope = ropeFrequencies(config.rope, D, config.context);
    this.invFreq = rope.invFreq;
    this.ropeScaling = rope.scaling;
    const init = this.rng.fork();
    const random = opts.init ?? true;
    const normal = (shape: number[]) => (random ? tf.tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => init.normal() * 0.02), shape) : tf.zeros(shape));
    this.set('model.embed_tokens.weight', normal([V, C]));
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.`;
      this.set(p + 'input_layernorm.weight', tf.ones([C]));
      const linearW = (name: string, out: number, inp: number, bias: boolean) => {
        this.set(p + name + '.weight', normal([out, inp]));
        if (bias) this.set(p + name + '.bias', tf.zeros([out]));
      };
      linearW('self_attn.q_proj', H * D, C, config.qkvBias);
      linearW('self_attn.k_proj', K * D, C, config.qkvBias);
      linearW('self_attn.v_proj', K * D, C, config.qkvBias);
      linearW('self_attn.o_proj', C, H * D, config.oBias);
      if (config.qkNorm) {
        this.set(p + 'self_attn.q_norm.weight', tf.ones([D]));
        this.set(p + 'self_attn.k_norm.weight', tf.ones([D]));
      }
      this.set(p + 'post_attention_layernorm.weight', tf.ones([C]));
      linearW('mlp.gate_proj', I, C, config.mlpBias);
      linearW('mlp.up_proj', I, C, config.mlpBias);
      linearW('mlp.down_proj', C, I, config.mlpBias);
    }
    this.set('model.norm.weight', tf.ones([C]));
    if (!config.tie && opts.lmHead !== false) this.set('lm_head.weight', normal([V, C]));
    for (const h of opts.heads ?? []) this.addHead(h);
  }

  get family(): LlamaFamily {
    return this.config.family;
  }

  /** Build a model from named weights (e.g. `loadModel(dir).weights`); heads are created when present. */
  static fromWeights(config: LlamaConfig, weights: Map<string, { shape: number[]; data: Float32Array }>, opts: LlamaOptions = {}): Llama {
    const heads: HeadKind[] = [];
    if (weights.has('v_head.summary.weight')) heads.push('value');
    if (weights.has('score.weight')) heads.push('reward');
    const lmHead = config.tie || weights.has('lm_head.weight');
    const m = new Llama(config, { ...opts, init: false, lmHead, heads: [...new Set([...heads, ...(opts.heads ?? [])])] });
    m.assignAll(weights, `${config.family} model`);
    return m;
  }

  /** Add a value head (`v_head.summary.weight` [1,C], `.bias` [1]) or reward head (`score.weight` [num_labels,C]). */
  addHead(kind: HeadKind): void {
    const C = this.config.width;
    const r = this.rng.fork();
    const normal = (rows: number) => tf.tensor2d(new Float32Array(rows * C).map(() => r.normal() * 0.02), [rows, C]);
    if (kind === 'value' && !this.weights.has('v_head.summary.weight')) {
      this.set('v_head.summary.weight', normal(1));
      this.set('v_head.summary.bias', tf.zeros([1]));
    }
    if (kind === 'reward' && !this.weights.has('score.weight')) this.set('score.weight', normal(this.config.numLabels ?? 1));
  }

  /** Attach LoRA adapters (PEFT names: q_proj … down_proj); the body is then frozen. */
  addLora(o: LoraOptions): Lora {
    if (this.lora) throw new Error('model already has LoRA adapters');
    const layout = { ...LLAMA_LORA, family: this.config.family };
    this.lora = new Lora(this.config.layers, (l, m) => {
      const [out, inp] = this.w(`model.layers.${l}.${m}.weight`).shape as [number, number];
      return [inp, out];
    }, { seed: this.rng.seed(), ...o, layout });
    return this.lora;
  }

  /** A projection of layer i, nn.Linear layout (x·Wᵀ + b), with its LoRA delta. */
  private proj(layer: number, module: string, x: tf.Tensor, training: boolean): tf.Tensor {
    const p = `model.layers.${layer}.${module}.`;
    const ad = this.frozen ? this.lora?.plain(layer, module, training) : undefined;
    if (ad) return linearLoraT(x, this.w(p + 'weight') as tf.Tensor2D, this.weights.get(p + 'bias') as tf.Tensor1D | undefined, ad.A, ad.B, ad.scale);
    const y = linearT(x, this.w(p + 'weight') as tf.Tensor2D, this.weights.get(p + 'bias') as tf.Tensor1D | undefined, this.frozen);
    const d = this.lora?.delta(layer, module, x, training);
    return d ? tf.add(y, d) : y;
  }

  private norm(name: string, x: tf.Tensor): tf.Tensor {
    return rmsNorm(x, this.w(`${name}.weight`) as tf.Tensor1D, this.config.rmsNormEps);
  }

  /** cos and sin [B,1,T,D] at integer positions [B,T] (scaled by the rope's attention factor). */
  private rotary(positions: tf.Tensor): { cos: tf.Tensor; sin: tf.Tensor } {
    const [B, T] = positions.shape as [number, number];
    const angles = tf.mul(tf.reshape(tf.cast(positions, 'float32'), [B, T, 1]), tf.tensor1d(this.invFreq));
    const emb = tf.reshape(tf.concat([angles, angles], 2), [B, 1, T, this.config.headDim]);
    const s = this.ropeScaling;
    return { cos: s === 1 ? tf.cos(emb) : tf.mul(tf.cos(emb), s), sin: s === 1 ? tf.sin(emb) : tf.mul(tf.sin(emb), s) };
  }

  forward(ids: tf.Tensor, mask?: tf.Tensor, o: ForwardOptions = {}): { hidden: tf.Tensor3D; cache?: KVCache } {
    const [B, T] = ids.shape as [number, number];
    const past = o.kv ? o.kv.length : (o.past?.k[0]?.shape[2] ?? 0);
    if (o.kv && (o.past || o.returnCache)) throw new Error('forward: kv (a preallocated cache) replaces past and returnCache');
    if (o.kv && past + T > o.kv.k[0].shape[2]) throw new Error(`forward: ${past + T} positions exceed the KV cache's ${o.kv.k[0].shape[2]}`);
    const L = past + T;
    if (L > this.config.context) throw new Error(`sequence of ${L} positions exceeds the model's context of ${this.config.context}`);
    if (mask && (mask.shape[0] !== B || mask.shape[1] !== L)) throw new Error(`mask must be [${B}, ${L}] (batch, cached + new positions), got [${mask.shape}]`);
    if (o.segments && (o.segments.shape[0] !== B || o.segments.shape[1] !== L)) throw new Error(`segments must be [${B}, ${L}], got [${o.segments.shape}]`);
    const training = o.training ?? false;
    const { positions, bias } = attentionLayout(B, T, past, mask, o.segments);
    const windows = this.config.windows ?? [];
    const windowBias = new Map<number, tf.Tensor>();
    for (const w of windows) if (w !== undefined && w < L && !windowBias.has(w)) windowBias.set(w, attentionLayout(B, T, past, mask, o.segments, w).bias);
    const { cos, sin } = this.rotary(positions);
    const cache: KVCache | undefined = o.returnCache ? { k: [], v: [] } : undefined;
    let x = embed(this.w('model.embed_tokens.weight') as tf.Tensor2D, ids, this.frozen);
    for (let i = 0; i < this.config.layers; i++) {
      const w = windows[i];
      const b = (w !== undefined && windowBias.get(w)) || bias;
      const p = `model.layers.${i}.`;
      x = tf.add(x, this.attention(i, this.norm(p + 'input_layernorm', x), b, cos, sin, training, o.past, cache, o.kv));
      x = tf.add(x, this.mlp(i, this.norm(p + 'post_attention_layernorm', x), training));
    }
    if (o.kv) o.kv.length += T;
    const hidden = this.norm('model.norm', x) as tf.Tensor3D;
    return cache ? { hidden, cache } : { hidden };
  }

  /** Grouped-query causal self-attention of layer i over cached + new keys (the cache holds K heads). */
  private attention(i: number, x: tf.Tensor, bias: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, training: boolean, past?: KVCache, cache?: KVCache, kv?: KVSlots): tf.Tensor {
    const [B, T] = x.shape as [number, number, number];
    const { heads: H, kvHeads: K, headDim: D } = this.config;
    const p = `model.layers.${i}.self_attn.`;
    // [B,T,n·D] → [B,T,n,D] (a reshape), the per-head q/k RMSNorm (Qwen3), then the rotation, which
    // also moves the heads to [B,n,T,D] (one kernel on native)
    const heads = (t: tf.Tensor, n: number, norm?: string) => {
      const h = tf.reshape(t, [B, T, n, D]);
      return (norm ? this.norm(p + norm, h) : h) as tf.Tensor4D;
    };
    const qk = this.config.qkNorm;
    const q = rotary(heads(this.proj(i, 'self_attn.q_proj', x, training), H, qk ? 'q_norm' : undefined), cos, sin, true);
    const k0 = rotary(heads(this.proj(i, 'self_attn.k_proj', x, training), K, qk ? 'k_norm' : undefined), cos, sin, true);
    const v0 = tf.transpose(heads(this.proj(i, 'self_attn.v_proj', x, training), K), [0, 2, 1, 3]) as tf.Tensor4D;
    const merge = (y: tf.Tensor4D) => tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, H * D]);
    if (kv) return this.proj(i, 'self_attn.o_proj', merge(attendCached(q, k0, v0, kv.k[i], kv.v[i], kv.length, bias)), training);
    const k = past ? (tf.concat([past.k[i], k0], 2) as tf.Tensor4D) : k0;
    const v = past ? (tf.concat([past.v[i], v0], 2) as tf.Tensor4D) : v0;
    cache?.k.push(k);
    cache?.v.push(v);
    const drop = training && this.config.dropout > 0 ? { rate: this.config.dropout, seed: this.rng.seed() } : undefined;
    // K kv heads serve H query heads: in place on native, repeated (transformers' repeat_kv) elsewhere
    const y = attend(q, k, v, bias, drop);
    return this.proj(i, 'self_attn.o_proj', merge(y), training);
  }

  /** SwiGLU MLP of layer i: down(silu(gate(x)) · up(x)). */
  private mlp(i: number, x: tf.Tensor, training: boolean): tf.Tensor {
    return this.proj(i, 'mlp.down_proj', swiglu(this.proj(i, 'mlp.gate_proj', x, training), this.proj(i, 'mlp.up_proj', x, training)), training);
  }

  /** A preallocated in-place KV cache [B,K,capacity,D] per layer (native backend; K kv heads), else undefined. */
  kvSlots(B: number, capacity: number): KVSlots | undefined {
    const { layers, kvHeads, headDim } = this.config;
    const shape: [number, number, number, number] = [B, kvHeads, capacity, headDim];
    const first = kvBuffer(shape);
    if (!first) return undefined;
    const bufs = [first, ...Array.from({ length: 2 * layers - 1 }, () => kvBuffer(shape)!)];
    return { k: bufs.slice(0, layers), v: bufs.slice(layers), length: 0 };
  }

  /** LM head (lm_head, or the token embedding when tied) on hidden states [...,C] → [...,V]. */
  head(hidden: tf.Tensor): tf.Tensor {
    return linearT(hidden, this.headWeight(), undefined, this.frozen);
  }

  protected headWeight(): tf.Tensor2D {
    const name = this.config.tie ? 'model.embed_tokens.weight' : 'lm_head.weight';
    if (!this.weights.has(name)) throw new Error('this model has no LM head (a reward model saved without lm_head): it scores, it does not generate');
    return this.w(name) as tf.Tensor2D;
  }

  valuesFrom(hidden: tf.Tensor): tf.Tensor2D {
    if (!this.hasHead('value')) throw new Error('model has no value head (addHead("value"))');
    const v = linearT(hidden, this.w('v_head.summary.weight') as tf.Tensor2D, this.w('v_head.summary.bias') as tf.Tensor1D);
    return tf.squeeze(v, [-1]) as tf.Tensor2D;
  }

  /** The first output of the reward head `score` at each row's last real token: lastIndex int32 [B] → [B]. */
  rewards(ids: tf.Tensor, mask: tf.Tensor | undefined, lastIndex: tf.Tensor, o: ForwardOptions = {}): tf.Tensor1D {
    if (!this.hasHead('reward')) throw new Error('model has no reward head (addHead("reward"))');
    const h = this.hidden(ids, mask, o);
    const w = this.w('score.weight') as tf.Tensor2D;
    const first = w.shape[0] === 1 ? w : (tf.slice(w, [0, 0], [1, -1]) as tf.Tensor2D);
    const s = tf.squeeze(linearT(h, first), [-1]);
    return pick(s, lastIndex) as tf.Tensor1D;
  }

}
