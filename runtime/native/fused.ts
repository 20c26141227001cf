// Fused ops of the native backend, each one kernel forward and one backward (instead of 10–20 small
// kernels through the tfjs engine): LayerNorm, GELU (tanh form), a linear layer with its GELU, log-softmax read at target ids
// (the cross-entropy of an LM head), attention (scores, mask, softmax, weighted sum; grouped-query when k
// and v have fewer heads), and the Llama family's RMSNorm, rotary embedding and SwiGLU. runtime/model/ops.ts opts into them: `fusedOps()` returns them
// only while the native backend is active, so every other backend keeps the composite ops.

import * as tf from '@tensorflow/tfjs';
import { logProbByKernels } from '../kernel-logprob.ts';

export const NATIVE = 'native';

export interface FusedOps {
  /** LayerNorm over the last axis (biased variance), same formula as ops.ts. */
  layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor;
  /** GELU tanh form, x·σ(2·√(2/π)(x + 0.044715x³)). */
  gelu(x: tf.Tensor): tf.Tensor;
  /**
   * gelu(x·w + b) for x [M,K], w [K,N] (or [N,K] with `transposeW`), b [N]: the product, bias and GELU
   * in one kernel (the pre-activation is kept for the gradient). `frozen`: no gradient for w and b.
   */
  linearGelu(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, o: { transposeW: boolean; frozen: boolean }): tf.Tensor2D;
  /** log softmax(logits)[…, targets] → logits.shape without the last axis; differentiable in logits. */
  logProbOf(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor;
  /**
   * log softmax(x·wᵀ / temperature) at the targets for x [N,H], w [V,H], targets [N] → [N], in one
   * kernel that never holds the [N,V] logits (vocabulary blocks, a running log-sum-exp). Differentiable
   * in x only (w must be frozen): when the tape is recording, the forward pass also returns
   * ∂y_n/∂x_n [N,H] and the backward pass is dy[:,None]·that.
   */
  headLogProb(x: tf.Tensor2D, w: tf.Tensor2D, targets: tf.Tensor, temperature: number): tf.Tensor1D;
  /**
   * A frozen projection with its LoRA adapter, x·wᵀ (+ b) + scale·(x·aᵀ)·bLᵀ for x [N,in], w [out,in],
   * b [out] (frozen), a [r,in], bL [out,r]: the adapter's product is accumulated into the projection's
   * output (one buffer, no Add), and the backward pass does the same for dx = dy·w + (scale·dy·bL)·a.
   * Differentiable in x, a and bL.
   */
  loraLinear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, a: tf.Tensor2D, bL: tf.Tensor2D, scale: number): tf.Tensor2D;
  /** RMSNorm over the last axis: w·x/√(mean(x²) + eps) (transformers' LlamaRMSNorm). Differentiable in x and w. */
  rmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number): tf.Tensor;
  /**
   * Rotary embedding x·cos + rotate_half(x)·sin of x [B,n,T,D] (`headsSplit`: x is [B,T,n,D], a
   * projection's output with its heads split by a reshape, and the head transpose happens in the
   * kernel) with cos, sin [1|B,1,T,D] (no gradient) → [B,n,T,D]. Differentiable in x (the inverse rotation).
   */
  rotary(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, headsSplit: boolean): tf.Tensor4D;
  /** silu(gate)·up in one kernel; differentiable in both. */
  swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor;
  /**
   * softmax(scale·q·kᵀ + bias)·v per head: q [B,H,T,D], k/v [B,K,L,D] with H a multiple of K (query head
   * h reads kv head ⌊h/(H/K)⌋ in place: grouped-query attention), bias [1|B,1,T,L] additive (0 allowed,
   * −1e9 masked; no gradient). Differentiable in q, k, v (dk, dv summed over each kv head's group).
   */
  attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, scale: number): tf.Tensor4D;
  /**
   * The same attention on c_attn's packed output qkv [B,T,3C] (q, k, v side by side, `heads` heads in
   * each), read in place; returns [B,T,C] with the heads merged. Differentiable in qkv.
   */
  attentionPacked(qkv: tf.Tensor3D, bias: tf.Tensor, heads: number, scale: number): tf.Tensor3D;
  /** A zeroed KV cache [B,K,S,D] that `attentionCached` writes in place (inference only). */
  kvCache(shape: [number, number, number, number]): tf.Tensor4D;
  /**
   * Sampling with a KV cache: writes the new positions' k, v [B,K,T,D] into the caches kc, vc
   * [B,K,S,D] (from `kvCache`) at past…past+T−1 in place, and returns attention of q [B,H,T,D] (H a
   * multiple of K, grouped as in `attention`) over the first past + T cached positions (bias
   * [1|B,1,T,past+T]). No gradient.
   */
  attentionCached(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, kc: tf.Tensor4D, vc: tf.Tensor4D, past: number, bias: tf.Tensor, scale: number): tf.Tensor4D;
  /**
   * One AdamW update of p with moments m, v (all assigned): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
   * p ← p·decay − stepSize · m / (√v / bc2sqrt + eps). decay = 1 − lr·weightDecay (1: Adam).
   */
  adamW(p: tf.Variable, m: tf.Variable, v: tf.Variable, g: tf.Tensor, o: { beta1: number; beta2: number; stepSize: number; bc2sqrt: number; eps: number; decay: number }): void;
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}) => tf.engine().runKernel(name, inputs, attrs);

const geluOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: run('NativeGelu', { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run('NativeGeluGrad', { x: saved[0], dy }) as tf.Tensor,
  };
}) as never) as (x: tf.Tensor) => tf.Tensor;

function linearGelu(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, o: { transposeW: boolean; frozen: boolean }): tf.Tensor2D {
  const tw = o.transposeW;
  const forward = (xx: tf.Tensor, ww: tf.Tensor, bb?: tf.Tensor) => run('NativeLinearGelu', bb ? { a: xx, b: ww, bias: bb } : { a: xx, b: ww }, { transposeB: tw }) as tf.Tensor[];
  // dpre = dy ⊙ gelu'(pre); dx = dpre·wᵀ, dw = xᵀ·dpre (or dpreᵀ·x), db = Σ_rows dpre
  const grads = (dy: tf.Tensor, ww: tf.Tensor2D, pre: tf.Tensor, xx?: tf.Tensor2D) => {
    const dpre = run('NativeGeluGrad', { x: pre, dy }) as tf.Tensor2D;
    const dx = tf.matMul(dpre, ww, false, !tw);
    if (!xx) return [dx]; // frozen: no weight gradients
    const dw = tw ? tf.matMul(dpre, xx, true, false) : tf.matMul(xx, dpre, true, false);
    return b ? [dx, dw, tf.sum(dpre, 0)] : [dx, dw];
  };
  if (o.frozen) {
    const f = tf.customGrad(((xx: tf.Tensor2D, save: tf.GradSaveFunc) => {
      const [y, pre] = forward(xx, w, b);
      save([w, pre]);
      return { value: y, gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => grads(dy, s[0] as tf.Tensor2D, s[1]) };
    }) as never) as (xx: tf.Tensor2D) => tf.Tensor2D;
    return f(x);
  }
  const body = (xx: tf.Tensor2D, ww: tf.Tensor2D, ...rest: unknown[]) => {
    const save = rest[rest.length - 1] as tf.GradSaveFunc;
    const bb = rest.length > 1 ? (rest[0] as tf.Tensor1D) : undefined;
    const [y, pre] = forward(xx, ww, bb);
    save([xx, ww, pre]);
    return { value: y, gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => grads(dy, s[1] as tf.Tensor2D, s[2], s[0] as tf.Tensor2D) };
  };
  if (b) return (tf.customGrad(body as never) as unknown as (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor2D)(x, w, b);
  return (tf.customGrad(body as never) as unknown as (a: tf.Tensor, c: tf.Tensor) => tf.Tensor2D)(x, w);
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  const f = tf.customGrad(((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = run('NativeLayerNorm', { x: xx, gamma: g, beta: b }, { eps }) as tf.Tensor[];
    save([xx, g, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeLayerNormGrad', { dy, x: s[0], gamma: s[1], mean: s[2], rstd: s[3] }) as tf.Tensor[],
    };
  }) as never) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return f(x, gamma, beta);
}

function rmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number): tf.Tensor {
  const f = tf.customGrad(((xx: tf.Tensor, ww: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, rstd] = run('NativeRMSNorm', { x: xx, w: ww }, { eps }) as tf.Tensor[];
    save([xx, ww, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeRMSNormGrad', { dy, x: s[0], w: s[1], rstd: s[2] }) as tf.Tensor[],
    };
  }) as never) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;
  return f(x, w);
}

function rotary(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, headsSplit: boolean): tf.Tensor4D {
  const layout = headsSplit ? 1 : 0;
  const f = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([cos, sin]); // kept by the tape (cos and sin may be freed after the forward pass)
    return {
      value: run('NativeRope', { x: xx, cos, sin }, { layout, inverse: false }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeRope', { x: dy, cos: s[0], sin: s[1] }, { layout, inverse: true }) as tf.Tensor,
    };
  }) as never) as (x: tf.Tensor) => tf.Tensor4D;
  return f(x);
}

const swigluOp = tf.customGrad(((gate: tf.Tensor, up: tf.Tensor, save: tf.GradSaveFunc) => {
  save([gate, up]);
  return {
    value: run('NativeSwiGLU', { gate, up }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeSwiGLUGrad', { gate: s[0], up: s[1], dy }) as tf.Tensor[],
  };
}) as never) as (gate: tf.Tensor, up: tf.Tensor) => tf.Tensor;

const logProbOf = logProbByKernels('NativeLogSoftmaxPick', 'NativeLogSoftmaxPickGrad');

function loraLinear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, a: tf.Tensor2D, bL: tf.Tensor2D, scale: number): tf.Tensor2D {
  const f = tf.customGrad(((xx: tf.Tensor2D, aa: tf.Tensor2D, bb: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const h = tf.matMul(xx, aa, false, true); // [N,r]
    const sb = tf.mul(bb, scale); // [out,r]
    const y = run('NativeMatMul2', b ? { a1: xx, b1: w, a2: h, b2: sb, bias: b } : { a1: xx, b1: w, a2: h, b2: sb }, { tB1: true, tB2: true }) as tf.Tensor2D;
    save([xx, aa, h, sb, w]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, s: tf.Tensor[]) => {
        const [sx, sa, sh, ssb, sw] = s as tf.Tensor2D[];
        const g = tf.matMul(dy, ssb); // scale·dy·bL [N,r]
        const dx = run('NativeMatMul2', { a1: dy, b1: sw, a2: g, b2: sa }, { tB1: false, tB2: false }) as tf.Tensor2D;
        return [dx, tf.matMul(g, sx, true, false), tf.mul(tf.matMul(dy, sh, true, false), scale)];
      },
    };
  }) as never) as (xx: tf.Tensor2D, aa: tf.Tensor2D, bb: tf.Tensor2D) => tf.Tensor2D;
  return f(x, a, bL);
}

/** Whether the engine is recording a gradient tape now (inside tf.grad / variableGrads, not inside a kernel). */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

function headLogProb(x: tf.Tensor2D, w: tf.Tensor2D, targets: tf.Tensor, temperature: number): tf.Tensor1D {
  const t = targets.dtype === 'int32' ? targets : tf.cast(targets, 'int32');
  if (!recordingGradients()) return (run('NativeHeadLogProb', { x, w, targets: t }, { temperature, grad: false }) as tf.Tensor[])[0] as tf.Tensor1D;
  const f = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, g] = run('NativeHeadLogProb', { x: xx, w, targets: t }, { temperature, grad: true }) as tf.Tensor[];
    save([g]);
    return { value: y, gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => tf.mul(s[0], tf.expandDims(dy, -1)) };
  }) as never) as (xx: tf.Tensor) => tf.Tensor1D;
  return f(x);
}

function adamW(p: tf.Variable, m: tf.Variable, v: tf.Variable, g: tf.Tensor, o: { beta1: number; beta2: number; stepSize: number; bc2sqrt: number; eps: number; decay: number }): void {
  // in place when no one else holds the variables' buffers (the usual case between steps)
  const b = tf.backend() as unknown as { adamInPlace?: (...a: unknown[]) => boolean };
  if (b.adamInPlace?.(p, m, v, g, o)) return;
  const [p2, m2, v2] = run('NativeAdam', { p, m, v, g }, o) as tf.Tensor[];
  p.assign(p2);
  m.assign(m2);
  v.assign(v2);
  tf.dispose([p2, m2, v2]);
}

function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, scale: number): tf.Tensor4D {
  const f = tf.customGrad(((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, probs] = run('NativeAttention', { q: qq, k: kk, v: vv, bias }, { scale }) as tf.Tensor[];
    save([qq, kk, vv, probs]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeAttentionGrad', { dy, q: s[0], k: s[1], v: s[2], probs: s[3] }, { scale }) as tf.Tensor[],
    };
  }) as never) as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor4D;
  return f(q, k, v);
}

function attentionPacked(qkv: tf.Tensor3D, bias: tf.Tensor, heads: number, scale: number): tf.Tensor3D {
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, probs] = run('NativeAttentionPacked', { qkv: x, bias }, { scale, heads }) as tf.Tensor[];
    save([x, probs]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run('NativeAttentionPackedGrad', { dy, qkv: s[0], probs: s[1] }, { scale, heads }) as tf.Tensor,
    };
  }) as never) as (x: tf.Tensor) => tf.Tensor3D;
  return f(qkv);
}

function kvCache(shape: [number, number, number, number]): tf.Tensor4D {
  return run('NativeKVCache', {}, { shape }) as tf.Tensor4D;
}

function attentionCached(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, kc: tf.Tensor4D, vc: tf.Tensor4D, past: number, bias: tf.Tensor, scale: number): tf.Tensor4D {
  return run('NativeAttentionCached', { q, k, v, kc, vc, bias }, { scale, past }) as tf.Tensor4D;
}

const OPS: FusedOps = { layerNorm, rmsNorm, rotary, swiglu: swigluOp, gelu: geluOp, linearGelu, logProbOf, headLogProb, loraLinear, adamW, attention, attentionPacked, kvCache, attentionCached };

/** The fused ops while the native backend is the active one, else undefined. */
export function fusedOps(): FusedOps | undefined {
  return tf.getBackend() === NATIVE ? OPS : undefined;
}
