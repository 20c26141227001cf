// Loads the compiled addon (build/Release/rlhfc_native.node, built by `npm install` through
// runtime/native/install.mjs). Never throws: a missing or broken build yields a reason instead.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';

/** The functions of src/addon.cc. Arrays are TypedArrays read or written in place. */
export interface Addon {
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  binary(op: number, a: Float32Array, b: Float32Array, y: Float32Array, meta: Int32Array): void;
  reduce(op: number, x: Float32Array, y: Float32Array, outer: number, mid: number, inner: number): void;
  softmax(x: Float32Array, y: Float32Array, rows: number, cols: number, log: number): void;
  addn(xs: Float32Array[], y: Float32Array): void;
  matmul(a: Float32Array, b: Float32Array, y: Float32Array, meta: Int32Array, bias: Float32Array | null, pre?: Float32Array): void;
  transpose(x: Quad, y: Quad, meta: Int32Array): void;
  transpose2d(x: Float32Array, y: Float32Array, batch: number, rows: number, cols: number): void;
  gather(x: Quad, idx: Int32Array, y: Quad, outer: number, axisDim: number, inner: number): number;
  blocks(src: Quad, dst: Quad, outer: number, chunk: number, srcStride: number, srcOffset: number, dstStride: number, dstOffset: number): void;
  slice(x: Quad, y: Quad, meta: Int32Array): void;
  tile(x: Quad, y: Quad, meta: Int32Array): void;
  oneHot(idx: Int32Array, y: Quad, depth: number, on: number, off: number, isInt: number): void;
  segmentSum(x: Float32Array, ids: Int32Array, y: Float32Array, numSegments: number, inner: number): void;
  adam(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, beta1: number, beta2: number, stepSize: number, bc2sqrt: number, eps: number, decay: number): void;
  cast(x: Float32Array | Int32Array | Uint8Array, y: Float32Array | Int32Array, kind: number): void;
  layerNorm(x: Float32Array, g: Float32Array, b: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  layerNormGrad(dy: Float32Array, x: Float32Array, g: Float32Array, mean: Float32Array, rstd: Float32Array, dx: Float32Array, dg: Float32Array, db: Float32Array, rows: number, cols: number): void;
  gelu(x: Float32Array, y: Float32Array): void;
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, cols: number): void;
  sigmoidGrad(y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  logSoftmaxPick(x: Float32Array, targets: Int32Array, y: Float32Array, lse: Float32Array, cols: number): void;
  logSoftmaxPickGrad(x: Float32Array, targets: Int32Array, lse: Float32Array, dy: Float32Array, dx: Float32Array, cols: number): void;
  /** y [M,N] = a1·op(b1) + a2·op(b2) (+ bias), meta [M, N, K1, K2, tB1, tB2]. */
  matMul2(a1: Float32Array, b1: Float32Array, a2: Float32Array, b2: Float32Array, y: Float32Array, meta: Int32Array, bias: Float32Array | null): void;
  /** y [N] = log softmax(x·wᵀ/temperature)[t] chunk-wise (no [N,V] logits); g [N,H] = ∂y_n/∂x_n when given. */
  headLogProb(x: Float32Array, w: Float32Array, targets: Int32Array, y: Float32Array, g: Float32Array | null, N: number, V: number, H: number, temperature: number): void;
  /**
   * Fused causal attention: meta [B, H, T, L, D, Bb, S, K] (k, v [B,K,S,D], the first L rows used; query
   * head h reads kv head h / (H/K)); y = softmax(scale·q·kᵀ + bias)·v, probs saved.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array, y: Float32Array, probs: Float32Array, meta: Int32Array, scale: number): void;
  /** Its gradient: meta [B, H, T, L, D, K]; dk, dv [B,K,L,D] summed over each kv head's query heads. */
  attentionGrad(dy: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, meta: Int32Array, scale: number): void;
  attentionPacked(qkv: Float32Array, bias: Float32Array, y: Float32Array, p: Float32Array, meta: Int32Array, scale: number): void;
  attentionPackedGrad(dy: Float32Array, qkv: Float32Array, p: Float32Array, dqkv: Float32Array, meta: Int32Array, scale: number): void;
  /** RMSNorm over rows: y = w·x/√(mean(x²) + eps), rstd saved. */
  rmsNorm(x: Float32Array, w: Float32Array, y: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  rmsNormGrad(dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, dx: Float32Array, dw: Float32Array, rows: number, cols: number): void;
  /** Rotary embedding (rotate_half): meta [B, n, T, D, Bc, inLayout (0 [B,n,T,D], 1 [B,T,n,D]), inverse]. */
  rope(x: Float32Array, cos: Float32Array, sin: Float32Array, y: Float32Array, meta: Int32Array): void;
  /** silu(g)·u, and its gradient in g and u. */
  swiglu(g: Float32Array, u: Float32Array, y: Float32Array): void;
  swigluGrad(g: Float32Array, u: Float32Array, dy: Float32Array, dg: Float32Array, du: Float32Array): void;
  /**
   * Most threads a product uses, and the multiply-adds from which a product uses them (smaller ones:
   * one thread) with OpenBLAS and with our own GEMM (src/gemm.cc).
   */
  setThreads(n: number, minWorkOpenBlas?: number, minWorkOwn?: number): void;
  info(): NativeInfo;
}

/** What the addon runs on: SIMD table, GEMM (ours or OpenBLAS), its kernels and threads. */
export interface NativeInfo {
  simd: string;
  /** `own` (src/gemm.cc) or `openblas` (RLHFC_NATIVE_BLAS=openblas and libopenblas.so.0 loaded). */
  gemm: 'own' | 'openblas';
  /** OpenBLAS's kernel set, or our SIMD table when gemm is own. */
  blasCore: string;
  /** The most threads a large product uses. */
  blasThreads: number;
  /** Why OpenBLAS is not in use ('' when it is). */
  openblas: string;
}

/** Arrays of 4-byte elements (float32 or int32 tensors). */
export type Quad = Float32Array | Int32Array;

/** Where `npm install` puts the addon (RLHFC_NATIVE_ADDON overrides, e.g. to test the fallback). */
export const ADDON_PATH = new URL('./build/Release/rlhfc_native.node', import.meta.url).pathname;
/** The command that builds the addon (printed in the fallback warning). */
export const BUILD_COMMAND = 'sudo apt-get install -y g++ make && npm run build:native';

let cached: { addon?: Addon; reason?: string } | undefined;
/** The functions added last to src/addon.cc (with grouped-query attention): their absence means a stale build. */
const NEWEST = ['rmsNorm', 'rmsNormGrad', 'rope', 'swiglu', 'swigluGrad'];

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/** Load the addon once; `reason` says why it is unavailable. */
export function loadAddon(): { addon?: Addon; reason?: string } {
  if (cached) return cached;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    cached = { reason: `the native backend is built for Linux x86-64 only (this is ${process.platform}-${process.arch})` };
    return cached;
  }
  // Matrix products: our own GEMM, or OpenBLAS when RLHFC_NATIVE_BLAS=openblas (loaded by the addon
  // with dlopen as it loads; a missing library means our GEMM, and info().openblas says why).
  // OpenBLAS picks its kernels when the library loads, from OPENBLAS_CORETYPE or its own CPU probe. The
  // Debian 0.3.21 probe maps AVX-512 Zen 4 to Haswell (AVX2), and environments often pin
  // OPENBLAS_CORETYPE=Haswell globally; the AVX-512 kernels are ~25% faster here. So the addon asks for
  // the kernels this CPU has (SkylakeX with AVX-512), or RLHFC_OPENBLAS_CORETYPE when set, for this load
  // only: the variable is restored afterwards, child processes keep the caller's environment.
  const had = process.env.OPENBLAS_CORETYPE;
  const f = cpuFlags();
  const avx512 = ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512cd'].every((x) => f.has(x));
  const core = process.env.RLHFC_OPENBLAS_CORETYPE ?? (avx512 ? 'SkylakeX' : had);
  if (core) process.env.OPENBLAS_CORETYPE = core;
  else delete process.env.OPENBLAS_CORETYPE;
  try {
    const addon = createRequire(import.meta.url)(process.env.RLHFC_NATIVE_ADDON ?? ADDON_PATH) as Addon;
    // Threads for large products (small ones always run on one): RLHFC_NATIVE_THREADS or all cores.
    // RLHFC_NATIVE_MT_MIN: the multiply-adds from which a product is split (default 2^26 for OpenBLAS,
    // whose threads cost more to wake, 2^21 for our pool).
    // A build from older sources lacks the newest kernels (and its attention reads no grouped-query
    // heads): refused, so the fallback warning asks for a rebuild instead of wrong numbers later.
    const missing = NEWEST.filter((f) => typeof (addon as unknown as Record<string, unknown>)[f] !== 'function');
    if (missing.length > 0) {
      cached = { reason: `the native addon is out of date (built before ${missing.join(', ')}): rebuild it` };
      return cached;
    }
    const mt = process.env.RLHFC_NATIVE_MT_MIN;
    addon.setThreads(Number(process.env.RLHFC_NATIVE_THREADS ?? availableParallelism()), Number(mt ?? 2 ** 26), Number(mt ?? 2 ** 21));
    cached = { addon };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    cached = { reason: /Cannot find module|no such file/i.test(msg) ? 'the native addon is not built' : `the native addon failed to load: ${msg}` };
  } finally {
    if (had === undefined) delete process.env.OPENBLAS_CORETYPE;
    else process.env.OPENBLAS_CORETYPE = had;
  }
  return cached;
}
