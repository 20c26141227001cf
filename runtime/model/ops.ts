// Building blocks shaped around backend limits, solved here once:
// - wasm has no UnsortedSegmentSum kernel (the gradient of gather), and on cpu it is very slow
//   (5.9 s of an 8.6 s training step): `embed` uses a one-hot matmul gradient instead.
// - wasm's fast matmul (XNNPACK) only runs rank-2, non-transposed products: `mm` and `linear` issue
//   only those (explicit tf.transpose for the gradient products) and flatten [B,T,C] to [B·T,C].
// - no gather with batchDims: `pick` selects along the last axis with a one-hot multiply.
// - wasm's OneHot ignores a float32 dtype (writes int32 bits): `oneHot` casts instead.
// - on the native backend (runtime/native) `fusedOps()` gives one-kernel LayerNorm, GELU,
//   linear+GELU, log-softmax-at-targets (`logProbOf`), attention (grouped-query in place), RMSNorm,
//   rotary embedding and SwiGLU, BLAS does the transposed products, and the embedding
//   gradient is UnsortedSegmentSum; other backends keep the composite ops above.
// - on the webgpu backend, WGSL kernels (runtime/webgpu) for log-softmax at targets, attention (and
//   the KV cache written in place) and LayerNorm/RMSNorm.

import * as tf from '@tensorflow/tfjs';
import { installFreeingGradients } from '../gradients.ts';
import { fusedOps, recordingGradients } from '../native/fused.ts';
import { webgpuLogProbOf } from '../webgpu/logprob.ts';
import { webgpuAttention, webgpuAttentionCached, webgpuAttentionFits, webgpuKvCache } from '../webgpu/attention.ts';
import { webgpuLayerNorm, webgpuNormFits, webgpuRmsNorm } from '../webgpu/norm.ts';

// Every model's backward pass frees saved activations and gradients as it goes (../gradients.ts).
installFreeingGradients();

/** a [N,K] · b [K,M] → [N,M]; forward and backward only as rank-2 non-transposed products. */
export const mm: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      if (fusedOps()) return [tf.matMul(dy, sb, false, true), tf.matMul(sa, dy, true, false)];
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
    },
  };
}) as never) as never;

/** a [N,K] · b [K,M] with b a constant (no gradient for b, which saves the dW product). */
export function mmFrozen(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([b]); // kept by the tape: b may be an intermediate (a weight slice) freed after the forward pass
    return { value: tf.matMul(x, b), gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [fusedOps() ? tf.matMul(dy, saved[0] as tf.Tensor2D, false, true) : tf.matMul(dy, tf.transpose(saved[0] as tf.Tensor2D))] };
  }) as never) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(a);
}

/**
 * x [..., in] · W [in, out] (+ b [out]) → [..., out] (GPT-2 Conv1D layout). `frozen`: W and b get no
 * gradient (LoRA's base weights), only x does.
 */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, frozen = false): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  let y: tf.Tensor;
  if (fusedOps()) y = nativeLinear(x2, w, b, frozen, false);
  else {
    y = frozen ? mmFrozen(x2, w) : mm(x2, w);
    if (b) y = tf.add(y, b);
  }
  return tf.reshape(y, [...lead, w.shape[1]]);
}

/**
 * gelu(linear(x, w, b)) — GPT-2's MLP input projection and its tanh-form GELU: on the native backend
 * the product, bias and GELU are one kernel; elsewhere the two ops.
 */
export function linearGelu(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, frozen = false): tf.Tensor {
  const f = fusedOps();
  if (!f) return gelu(linear(x, w, b, frozen));
  const inDim = x.shape[x.shape.length - 1];
  const y = f.linearGelu(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, w, b, { transposeW: false, frozen });
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
}

/**
 * x [..., in] · wᵀ (+ b) with w [out, in] (e.g. the LM head tied to the embedding): on the native
 * backend the product reads w transposed in place (no transposed copy of w, forward or backward);
 * elsewhere it is linear(x, wᵀ).
 */
export function linearT(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, frozen = false): tf.Tensor {
  if (!fusedOps()) return linear(x, tf.transpose(w) as tf.Tensor2D, b, frozen);
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const y = nativeLinear(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, w, b, frozen, true);
  return tf.reshape(y, [...lead, w.shape[0]]);
}

/**
 * A frozen nn.Linear-layout projection with a LoRA adapter (no dropout): x·wᵀ (+ b) + scale·(x·aᵀ)·bLᵀ
 * for x [..., in], w [out, in], a [r, in], bL [out, r]; gradients for x, a and bL only. On the native
 * backend the adapter's product accumulates into the projection's output buffer, forward and backward
 * (fused.ts `loraLinear`); elsewhere the two products and an add, as `Lora.delta` computes them.
 */
export function linearLoraT(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | undefined, a: tf.Tensor2D, bL: tf.Tensor2D, scale: number): tf.Tensor {
  const f = fusedOps();
  if (!f) return tf.add(linearT(x, w, b, true), linearT(linearT(x, a), tf.mul(bL, scale) as tf.Tensor2D));
  const inDim = x.shape[x.shape.length - 1];
  const y = f.loraLinear(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, w, b, a, bL, scale);
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
}

/**
 * Native backend: x·w (or x·wᵀ) with the bias added in the product's epilogue (one kernel), and the
 * gradient as transposed products (dx = dy·wᵀ, dw = xᵀ·dy, db = Σ dy) without transposed copies.
 */
function nativeLinear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, frozen: boolean, tw: boolean): tf.Tensor2D {
  const forward = (xx: tf.Tensor2D, ww: tf.Tensor2D, bb?: tf.Tensor1D) =>
    (bb ? tf.fused.matMul({ a: xx, b: ww, bias: bb, transposeB: tw }) : tf.matMul(xx, ww, false, tw)) as tf.Tensor2D;
  const dx = (dy: tf.Tensor2D, ww: tf.Tensor2D) => tf.matMul(dy, ww, false, !tw);
  if (frozen) {
    const f = tf.customGrad(((xx: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([w]);
      return { value: forward(xx, w, b), gradFunc: (dy: tf.Tensor2D, s: tf.Tensor[]) => [dx(dy, s[0] as tf.Tensor2D)] };
    }) as never) as (xx: tf.Tensor2D) => tf.Tensor2D;
    return f(x);
  }
  const dw = (dy: tf.Tensor2D, xx: tf.Tensor2D) => (tw ? tf.matMul(dy, xx, true, false) : tf.matMul(xx, dy, true, false));
  if (!b) {
    const f = tf.customGrad(((xx: tf.Tensor2D, ww: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([xx, ww]);
      return { value: forward(xx, ww), gradFunc: (dy: tf.Tensor2D, s: tf.Tensor[]) => [dx(dy, s[1] as tf.Tensor2D), dw(dy, s[0] as tf.Tensor2D)] };
    }) as never) as (xx: tf.Tensor2D, ww: tf.Tensor2D) => tf.Tensor2D;
    return f(x, w);
  }
  const f = tf.customGrad(((xx: tf.Tensor2D, ww: tf.Tensor2D, bb: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save([xx, ww]);
    return {
      value: forward(xx, ww, bb),
      gradFunc: (dy: tf.Tensor2D, s: tf.Tensor[]) => [dx(dy, s[1] as tf.Tensor2D), dw(dy, s[0] as tf.Tensor2D), tf.sum(dy, 0)],
    };
  }) as never) as (xx: tf.Tensor2D, ww: tf.Tensor2D, bb: tf.Tensor1D) => tf.Tensor2D;
  return f(x, w, b);
}

/** Float one-hot rows for integer indices (cast from int32: wasm's OneHot mishandles a float dtype; tfjs refuses depth 1). */
export function oneHot(idx: tf.Tensor, depth: number): tf.Tensor {
  const i = tf.cast(idx, 'int32');
  if (depth === 1) return tf.expandDims(tf.cast(tf.equal(i, 0), 'float32'), -1);
  return tf.cast(tf.oneHot(i as tf.Tensor1D, depth), 'float32');
}

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Rows of `table` [V,C] at integer `ids` (any shape) → [...ids.shape, C]. Differentiable in `table`:
 * the gradient is oneHot(ids)ᵀ · dy, a rank-2 matmul (fast on every backend), or UnsortedSegmentSum
 * when the one-hot matrix would be huge (> 2^26 entries) and the backend has that kernel.
 */
export function embed(table: tf.Tensor2D, ids: tf.Tensor, frozen = false): tf.Tensor {
  const [V, C] = table.shape;
  const flat = tf.reshape(ids, [-1]) as tf.Tensor1D;
  if (frozen) return tf.reshape(tf.gather(table, flat), [...ids.shape, C]);
  const f = tf.customGrad(((t: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([flat]);
    return {
      value: tf.gather(t, flat),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const idx = saved[0] as tf.Tensor1D;
        if ((idx.size * V > 2 ** 26 || fusedOps()) && hasKernel('UnsortedSegmentSum')) return [tf.unsortedSegmentSum(dy, idx, V)];
        return [tf.matMul(tf.transpose(oneHot(idx, V)), dy)];
      },
    };
  }) as never) as (t: tf.Tensor2D) => tf.Tensor2D;
  return tf.reshape(f(table), [...ids.shape, C]);
}

/** LayerNorm over the last axis (biased variance, like PyTorch). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const f = fusedOps();
  if (f) return f.layerNorm(x, gamma, beta, eps);
  if (tf.getBackend() === 'webgpu' && webgpuNormFits(x, gamma, beta)) return webgpuLayerNorm(x, gamma, beta, eps); // WGSL (runtime/webgpu/norm.ts)
  const axis = x.shape.length - 1;
  const mean = tf.mean(x, axis, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axis, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/**
 * GELU, tanh approximation (GPT-2's "gelu_new"): 0.5·x·(1 + tanh(z)) with z = √(2/π)(x + 0.044715x³),
 * computed as x·σ(2z) (the same function, fewer elementwise ops).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const f = fusedOps();
  if (f) return f.gelu(x);
  const c2 = 2 * Math.sqrt(2 / Math.PI);
  const z2 = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), c2);
  return tf.mul(x, tf.sigmoid(z2));
}

/** Numerically stable log-softmax over the last axis (tf.logSoftmax subtracts the max; its gradient is custom). */
export function logSoftmax(x: tf.Tensor): tf.Tensor {
  return tf.logSoftmax(x, -1);
}

/** log softmax(logits)[..., idx] → [...]: each target's log-probability (one kernel on native). */
export function logProbOf(logits: tf.Tensor, idx: tf.Tensor): tf.Tensor {
  const f = fusedOps();
  if (f) return f.logProbOf(logits, idx);
  if (tf.getBackend() === 'webgpu') return webgpuLogProbOf(logits, idx); // two WGSL kernels (runtime/webgpu)
  return pick(logSoftmax(logits), idx);
}

/**
 * The LM head and the log-probability of each target: log softmax(hidden·wᵀ / temperature)[targets]
 * for hidden [..., C], w [V, C] (tied embedding or lm_head) → [...]. `frozen`: w gets no gradient
 * (LoRA). On the native backend, when w needs no gradient (frozen, or no gradient being recorded),
 * one kernel that never holds the [.., V] logits (fused.ts `headLogProb`); otherwise the head's
 * product and `logProbOf`.
 */
export function headLogProbs(hidden: tf.Tensor, w: tf.Tensor2D, targets: tf.Tensor, temperature = 1, frozen = false): tf.Tensor {
  const f = fusedOps();
  if (f && (frozen || !recordingGradients())) {
    const C = hidden.shape[hidden.shape.length - 1];
    const y = f.headLogProb(tf.reshape(hidden, [-1, C]) as tf.Tensor2D, w, tf.reshape(targets, [-1]), temperature);
    return tf.reshape(y, hidden.shape.slice(0, -1));
  }
  const logits = linearT(hidden, w, undefined, frozen);
  return logProbOf(temperature === 1 ? logits : tf.div(logits, temperature), targets);
}

/** x [..., N] at integer indices idx [...] → [...], via a one-hot multiply (no gather with batchDims). */
export function pick(x: tf.Tensor, idx: tf.Tensor): tf.Tensor {
  const n = x.shape[x.shape.length - 1];
  return tf.sum(tf.mul(x, oneHot(idx, n)), -1);
}

/**
 * Attention per head: softmax(q·kᵀ/√D + bias)·v with q [B,H,T,D], k/v [B,K,L,D] and an additive bias
 * [1|B,1,T,L] (0 allowed, −1e9 masked: causal, padding, segments, sliding windows). K < H is
 * grouped-query attention (H a multiple of K; query head h attends with kv head ⌊h/(H/K)⌋): on the
 * native backend read in place, elsewhere repeated with `repeatKv`. `drop`: attention dropout on the
 * probabilities (training). On the native backend without dropout: one fused kernel forward and one
 * backward (runtime/native: fused.ts, addon.cc); on webgpu without dropout, WGSL kernels (runtime/webgpu/attention.ts).
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, drop?: { rate: number; seed: number }): tf.Tensor4D {
  const scale = 1 / Math.sqrt(q.shape[3]);
  const [H, K] = [q.shape[1], k.shape[1]];
  if (H % K !== 0) throw new Error(`attention: ${H} query heads are not a multiple of ${K} key/value heads`);
  const f = fusedOps();
  const rate = drop?.rate ?? 0;
  if (f && rate === 0) return f.attention(q, k, v, bias, scale);
  if (rate === 0 && tf.getBackend() === 'webgpu' && webgpuAttentionFits(q, k, v, bias)) return webgpuAttention(q, k, v, bias, scale); // WGSL (runtime/webgpu/attention.ts)
  const scores = tf.add(tf.matMul(tf.mul(q, scale), repeatKv(k, H / K), false, true), bias);
  const probs = tf.softmax(scores, -1);
  return tf.matMul(drop ? dropout(probs, rate, drop.seed) : probs, repeatKv(v, H / K)) as tf.Tensor4D;
}

/** Each of the K key/value heads of x [B,K,L,D] repeated for its `rep` query heads → [B,K·rep,L,D] (transformers' repeat_kv). */
export function repeatKv(x: tf.Tensor4D, rep: number): tf.Tensor4D {
  if (rep === 1) return x;
  const [B, K, L, D] = x.shape;
  // rank 4 (tfjs differentiates tile up to rank 4): [B,K,1,L·D] tiled to [B,K,rep,L·D]
  return tf.reshape(tf.tile(tf.reshape(x, [B, K, 1, L * D]), [1, 1, rep, 1]), [B, K * rep, L, D]) as tf.Tensor4D;
}

/** RMSNorm over the last axis: x / √(mean(x²) + ε) · w (transformers' LlamaRMSNorm, in float32); one kernel each way on native. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number): tf.Tensor {
  const f = fusedOps();
  if (f) return f.rmsNorm(x, w, eps);
  if (tf.getBackend() === 'webgpu' && webgpuNormFits(x, w)) return webgpuRmsNorm(x, w, eps); // WGSL (runtime/webgpu/norm.ts)
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

/**
 * Rotary embedding x·cos + rotate_half(x)·sin (rotate_half(x) = [−x₂, x₁] over the halves of D) with
 * cos, sin [1|B,1,T,D] (any attention scaling already in them). x is [B,n,T,D], or with `headsSplit`
 * [B,T,n,D] (a projection's output reshaped to heads, not yet transposed); the result is [B,n,T,D].
 * On native: one kernel (the head transpose included), its gradient the inverse rotation.
 */
export function rotary(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, headsSplit = false): tf.Tensor4D {
  const f = fusedOps();
  if (f) return f.rotary(x, cos, sin, headsSplit);
  const h = headsSplit ? (tf.transpose(x, [0, 2, 1, 3]) as tf.Tensor4D) : x;
  const [x1, x2] = tf.split(h, 2, 3);
  return tf.add(tf.mul(h, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin)) as tf.Tensor4D;
}

/** SwiGLU: silu(gate) · up (one kernel each way on native). */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  const f = fusedOps();
  if (f) return f.swiglu(gate, up);
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/** Whether `attendPacked` can run here: the native backend, without attention dropout. */
export function canAttendPacked(drop?: { rate: number }): boolean {
  return fusedOps() !== undefined && !(drop && drop.rate > 0);
}

/**
 * softmax(q·kᵀ/√D + bias)·v on c_attn's packed output qkv [B,T,3C], one kernel that reads q, k, v in
 * place and writes [B,T,C] with the heads merged (no split, head transposes or merge). Only where
 * `canAttendPacked()`.
 */
export function attendPacked(qkv: tf.Tensor3D, bias: tf.Tensor, heads: number): tf.Tensor3D {
  const f = fusedOps();
  if (!f) throw new Error('attendPacked needs the native backend (check canAttendPacked first)');
  return f.attentionPacked(qkv, bias, heads, 1 / Math.sqrt(qkv.shape[2] / 3 / heads));
}

/** A zeroed KV cache [B,K,S,D] for `attendCached` (native and webgpu backends), else undefined. */
export function kvBuffer(shape: [number, number, number, number]): tf.Tensor4D | undefined {
  if (tf.getBackend() === 'webgpu') return webgpuKvCache(shape);
  return fusedOps()?.kvCache(shape);
}

/**
 * Attention of the new positions' q [B,H,T,D] over a KV cache [B,K,S,D] from `kvBuffer` holding
 * `past` positions, after writing the new k, v [B,K,T,D] into it in place (sampling; no gradient;
 * K < H: grouped-query as in `attention`): the same numbers as `attention` over the concatenated keys
 * and values, without copying the cache each step.
 */
export function attendCached(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, kc: tf.Tensor4D, vc: tf.Tensor4D, past: number, bias: tf.Tensor): tf.Tensor4D {
  if (tf.getBackend() === 'webgpu') return webgpuAttentionCached(q, k, v, kc, vc, past, bias, 1 / Math.sqrt(q.shape[3])); // WGSL (runtime/webgpu/attention.ts)
  const f = fusedOps();
  if (!f) throw new Error('attendCached needs the native or webgpu backend (a KV cache from kvBuffer)');
  return f.attentionCached(q, k, v, kc, vc, past, bias, 1 / Math.sqrt(q.shape[3]));
}

/** Sum of x·w / sum of w (0 when w sums to 0). */
export function weightedMean(x: tf.Tensor, w: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, w)), tf.maximum(tf.sum(w), 1e-8)) as tf.Scalar;
}

/** Dropout with an explicit seed (identity when rate is 0). */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  return rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
}
