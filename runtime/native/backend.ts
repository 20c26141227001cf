// The `native` TensorFlow.js backend: tensors stay in JS TypedArrays exactly as in the cpu backend
// (it subclasses MathBackendCPU and re-registers every cpu kernel under the name `native`), and the
// hot kernels run in a C++ N-API addon (src/addon.cc, src/simd.cc, src/gemm.cc or OpenBLAS for products) that reads
// and writes that memory in place. Outputs of native kernels come from a pool of recycled buffers.
// See KERNELS.md for which kernels are native and why.
//
// MathBackendCPU internals used (pinned @tensorflow/tfjs-backend-cpu 4.22.0; tests/runtime/native.test.ts
// checks they are there): `data` (DataStorage of {values, dtype, refCount}), `write`, `move`,
// `readSync`, `disposeData`, `makeTensorInfo`, and the `firstUse` flag (silences its "install
// tfjs-node" notice).

import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { type Addon, type NativeInfo, type Quad, loadAddon } from './addon.ts';

type TI = tf.TensorInfo;
type Args = { inputs: Record<string, TI>; backend: NativeBackend; attrs?: tf.NamedAttrMap };
type KFn = (args: Args) => TI | TI[];

export const NATIVE = 'native';
/**
 * Pooled (recycled) output buffers: at most 1.25× the peak bytes in use at once, within these bounds
 * (RLHFC_NATIVE_POOL_MB sets the upper one). The slack covers size-class fragmentation: a step needs
 * somewhat more distinct buffers than its peak, and with a cap of exactly the peak each step evicted
 * its oldest free buffer — the 48 MB logits gradient of a 49,152-token vocabulary — and allocated
 * it again, paying the first touch of every page (~0.4 s on a sandboxed machine) every step.
 */
const POOL_SLACK = 1.25;
const poolMB = Number(process.env['RLHFC_NATIVE_POOL_MB'] || 1024);
const POOL_BYTES = (Number.isFinite(poolMB) && poolMB >= 0 ? poolMB : 1024) * 2 ** 20;
const MIN_POOL_BYTES = Math.min(POOL_BYTES, 32 * 2 ** 20);

const isView = (v: unknown): v is ArrayBufferView => ArrayBuffer.isView(v);

/** Pooled buffers have one of a few sizes per power of two (≤ 25% slack), so growing shapes (KV caches) reuse them. */
export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.ceil(bytes / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 2);
  return Math.ceil(bytes / step) * step;
}

export class NativeBackend extends MathBackendCPU {
  readonly addon: Addon;
  /** Free ArrayBuffers by byte length (a size class), and all of them oldest first (Set order, for eviction). */
  private readonly pool = new Map<number, ArrayBuffer[]>();
  private readonly pooled = new Set<ArrayBuffer>();
  private pooledBytes = 0;
  /** Bytes of handed-out buffers still in use, and the most ever: the pool never needs to hold more. */
  private liveBytes = 0;
  private peakBytes = 0;
  /**
   * Buffers handed out by f32/i32 → the one view given out and the number of live data ids holding it.
   * Never-exposed buffers only: a read (dataSync) or any other view of the buffer removes the entry.
   */
  private readonly owned = new WeakMap<ArrayBufferLike, { view: ArrayBufferView; count: number }>();
  /** Counters for tests and benchmarks. */
  readonly stats = { allocated: 0, reused: 0, evicted: 0 };

  constructor(addon: Addon) {
    super();
    this.addon = addon;
    // MathBackendCPU prints "install our node backend" on first write; this is the native backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  private buffer(n: number): ArrayBuffer {
    const bytes = sizeClass(n * 4);
    let buf = this.pool.get(bytes)?.pop();
    if (buf) {
      this.pooled.delete(buf);
      this.pooledBytes -= bytes;
      this.stats.reused++;
    } else {
      this.stats.allocated++;
      buf = new ArrayBuffer(bytes);
    }
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buf;
  }

  private track(buf: ArrayBuffer, v: ArrayBufferView): void {
    this.owned.set(buf, { view: v, count: 0 });
  }

  /** An output buffer of n float32s (recycled when possible; contents undefined). */
  f32(n: number): Float32Array {
    if (n === 0) return new Float32Array(0);
    const buf = this.buffer(n);
    const v = new Float32Array(buf, 0, n);
    this.track(buf, v);
    return v;
  }

  i32(n: number): Int32Array {
    if (n === 0) return new Int32Array(0);
    const buf = this.buffer(n);
    const v = new Int32Array(buf, 0, n);
    this.track(buf, v);
    return v;
  }

  /** A buffer leaves our control (exposed or aliased): it is no longer live here nor ever pooled. */
  private retire(buf: ArrayBufferLike): void {
    if (this.owned.delete(buf)) this.liveBytes -= buf.byteLength;
  }

  /** A data id now holds `values`: count it when it is one of ours; any other view makes it unpoolable. */
  private hold(values: unknown): void {
    if (!isView(values)) return;
    const e = this.owned.get(values.buffer);
    if (!e) return;
    if (e.view === values) e.count++;
    else this.retire(values.buffer);
  }

  private release(values: unknown): void {
    if (!isView(values)) return;
    const buf = values.buffer as ArrayBuffer;
    const e = this.owned.get(buf);
    if (!e || e.view !== values) return;
    if (--e.count > 0) return;
    this.retire(buf);
    const bytes = buf.byteLength;
    // Keep at most POOL_SLACK × the peak working set (and POOL_BYTES): evict the oldest pooled buffers first.
    const cap = Math.min(POOL_BYTES, Math.max(MIN_POOL_BYTES, this.peakBytes * POOL_SLACK));
    if (bytes > cap) return;
    while (this.pooledBytes + bytes > cap) this.evictOldest();
    let list = this.pool.get(bytes);
    if (!list) this.pool.set(bytes, (list = []));
    list.push(buf);
    this.pooled.add(buf);
    this.pooledBytes += bytes;
  }

  private evictOldest(): void {
    const b = this.pooled.values().next().value;
    if (!b) return;
    this.pooled.delete(b);
    const list = this.pool.get(b.byteLength)!;
    list.splice(list.indexOf(b), 1);
    this.pooledBytes -= b.byteLength;
    this.stats.evicted++;
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    this.hold(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.hold(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: object): tf.backend_util.BackendValues {
    const v = super.readSync(dataId);
    if (!isView(v)) return v;
    const e = this.owned.get(v.buffer);
    if (!e) return v;
    // The caller may keep this array after the tensor is gone: hand out a copy when the view is part of
    // a larger pooled buffer (so .buffer is exactly the data), else stop recycling the buffer.
    if (v.byteLength !== v.buffer.byteLength) return (v as Float32Array).slice();
    this.retire(v.buffer);
    return v;
  }

  override disposeData(dataId: object, force = false): boolean {
    if (!this.data.has(dataId)) return super.disposeData(dataId, force);
    const values = this.data.get(dataId).values;
    const freed = super.disposeData(dataId, force);
    if (freed) this.release(values);
    return freed;
  }

  /** Drop every pooled buffer (for tests and after large one-off work). */
  clearPool(): void {
    this.pool.clear();
    this.pooled.clear();
    this.pooledBytes = 0;
  }

  get poolBytes(): number {
    return this.pooledBytes;
  }

  /**
   * Whether the tensor's float32 buffer may be written in place: one data id holds it (no reshape or
   * clone shares it) and no one outside the backend has ever seen it (no dataSync, no foreign view).
   */
  writable(t: TI): boolean {
    const d = this.data.get(t.dataId);
    if (!d || d.refCount !== 1 || d.dtype !== 'float32' || !isView(d.values)) return false;
    return this.owned.get(d.values.buffer)?.view === d.values;
  }

  /**
   * One AdamW update written into p, m and v themselves (an optimizer's variables between steps), when
   * `writable` holds for all three: no new buffers for the parameters and moments. Returns false
   * (nothing done) otherwise; the caller then runs the NativeAdam kernel.
   */
  adamInPlace(p: TI, m: TI, v: TI, g: TI, o: { beta1: number; beta2: number; stepSize: number; bc2sqrt: number; eps: number; decay: number }): boolean {
    if (!this.writable(p) || !this.writable(m) || !this.writable(v) || g.dtype !== 'float32') return false;
    const at = (t: TI) => this.data.get(t.dataId).values as Float32Array;
    if (at(g).length !== at(p).length) return false;
    this.addon.adam(at(p), at(m), at(v), at(g), o.beta1, o.beta2, o.stepSize, o.bc2sqrt, o.eps, o.decay);
    return true;
  }

  override dispose(): void {
    this.clearPool();
    super.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// Kernels

const { util, backend_util } = tf;
let cpuKernels: Map<string, tf.KernelFunc>;
const fallback = (name: string, args: Args): TI | TI[] => cpuKernels.get(name)!(args as never) as TI | TI[];
const vals = (b: NativeBackend, t: TI) => b.data.get(t.dataId).values as Float32Array;
const quad = (dtype: string) => dtype === 'float32' || dtype === 'int32';
const meta = new Int32Array(64);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const out = (b: NativeBackend, shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array): TI => b.makeTensorInfo(shape, dtype, values);
const alloc = (b: NativeBackend, dtype: string, n: number): Quad => (dtype === 'int32' ? b.i32(n) : b.f32(n));

const UNARY: Record<string, number> = {
  Neg: 0, Exp: 1, Log: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Sigmoid: 6, Tanh: 7, Relu: 8, Abs: 9, Reciprocal: 10, Log1p: 11, Elu: 12, Softplus: 13, Relu6: 15,
};
const BINARY: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, Pow: 6, SquaredDifference: 7 };
const REDUCE: Record<string, number> = { Sum: 0, Max: 1, Min: 2, Prod: 3, Mean: 4 };

function unaryKernel(name: string, op: number): KFn {
  return (args) => {
    const { x } = args.inputs;
    if (x.dtype !== 'float32') return fallback(name, args);
    const b = args.backend;
    const y = b.f32(size(x.shape));
    b.addon.unary(op, vals(b, x), y, 0);
    return out(b, x.shape, 'float32', y);
  };
}

/** Broadcast plan: output shape and collapsed [rank, shape…, strideA…, strideB…], cached by shapes. */
const plans = new Map<string, { shape: number[]; meta: Int32Array }>();
function broadcastPlan(as: number[], bs: number[], bZero = false): { shape: number[]; meta: Int32Array } {
  const key = `${as}|${bs}|${bZero}`;
  let p = plans.get(key);
  if (p) return p;
  const shape = backend_util.assertAndGetBroadcastShape(as, bs);
  const r = shape.length;
  const strides = (s: number[]) => {
    const full = [...new Array(r - s.length).fill(1), ...s];
    const st = new Array(r).fill(0);
    let acc = 1;
    for (let d = r - 1; d >= 0; d--) {
      st[d] = full[d] === 1 ? 0 : acc;
      acc *= full[d];
    }
    return st;
  };
  const sa = strides(as);
  const sb = bZero ? new Array(r).fill(0) : strides(bs);
  const dims: { n: number; a: number; b: number }[] = [];
  for (let d = 0; d < r; d++) {
    if (shape[d] === 1) continue;
    const cur = { n: shape[d], a: sa[d], b: sb[d] };
    const prev = dims[dims.length - 1];
    if (prev && prev.a === cur.a * cur.n && prev.b === cur.b * cur.n) prev.n *= cur.n, (prev.a = cur.a), (prev.b = cur.b);
    else dims.push(cur);
  }
  if (dims.length === 0) dims.push({ n: 1, a: 1, b: 1 });
  const k = dims.length;
  const m = new Int32Array(1 + 3 * k);
  m[0] = k;
  dims.forEach((d, i) => {
    m[1 + i] = d.n;
    m[1 + k + i] = d.a;
    m[1 + 2 * k + i] = d.b;
  });
  p = { shape, meta: m };
  if (plans.size > 4096) plans.clear();
  plans.set(key, p);
  return p;
}

/** BroadcastTo (not a cpu kernel: tf.broadcastTo runs Tile); used by the Sum/Mean gradients below. */
function broadcastTo(args: Args): TI {
  const { x } = args.inputs;
  const { shape } = args.attrs as { shape: number[] };
  const b = args.backend;
  if (x.dtype !== 'float32') {
    const reps = shape.map((d, i) => d / ([...new Array(shape.length - x.shape.length).fill(1), ...x.shape][i] ?? 1));
    const xr = { ...x, shape: [...new Array(shape.length - x.shape.length).fill(1), ...x.shape] };
    return tile({ inputs: { x: xr }, backend: b, attrs: { reps } });
  }
  const p = broadcastPlan(x.shape, shape, true);
  const n = size(p.shape);
  const y = b.f32(n);
  const xv = vals(b, x);
  if (n > 0) b.addon.binary(B_FIRST, xv, xv, y, p.meta);
  return out(b, p.shape, 'float32', y);
}
const B_FIRST = 8;

/**
 * The Sum and Mean gradients of tfjs-core build ones(x.shape) and multiply: a fresh array filled in JS
 * per call (a tenth of a training step). On this backend they broadcast dy directly instead; other
 * backends keep the original gradients.
 */
function overrideReduceGradients(): void {
  // Softmax and Sigmoid: one kernel from the saved output instead of 3–4 elementwise ones.
  for (const [name, input, kernel] of [
    ['Softmax', 'logits', 'NativeSoftmaxGrad'],
    ['Sigmoid', 'x', 'NativeSigmoidGrad'],
  ] as const) {
    const orig = tf.getGradient(name);
    if (!orig || (orig as { native?: boolean }).native) continue;
    tf.registerGradient({
      kernelName: name,
      outputsToSave: [true],
      native: true,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const [y] = saved;
        const last = name === 'Sigmoid' || attrs.dim === -1 || attrs.dim === y.shape.length - 1;
        if (tf.getBackend() !== NATIVE || y.dtype !== 'float32' || !last) return orig.gradFunc(dy, saved, attrs);
        return { [input]: () => tf.engine().runKernel(kernel, { y, dy: dy as tf.Tensor }) as tf.Tensor };
      },
    } as tf.GradConfig);
  }
  for (const name of ['Sum', 'Mean']) {
    const orig = tf.getGradient(name);
    if (!orig || (orig as { native?: boolean }).native) continue;
    const cfg = {
      kernelName: name,
      inputsToSave: ['x'],
      native: true,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        if (tf.getBackend() !== NATIVE) return orig.gradFunc(dy, saved, attrs);
        const [x] = saved;
        const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
        const expanded = x.shape.slice();
        for (const a of axes) expanded[a] = 1;
        const reduceSize = size(axes.map((a) => x.shape[a]));
        return {
          x: () => {
            const d = tf.reshape(dy as tf.Tensor, expanded);
            const s = name === 'Mean' ? tf.div(d, reduceSize) : d;
            return tf.engine().runKernel('BroadcastTo', { x: s }, { shape: x.shape }) as tf.Tensor;
          },
        };
      },
    };
    tf.registerGradient(cfg as tf.GradConfig);
  }
}

function binaryKernel(name: string, op: number): KFn {
  return (args) => {
    const { a, b: bb } = args.inputs;
    if (a.dtype !== 'float32' || bb.dtype !== 'float32') return fallback(name, args);
    const b = args.backend;
    const p = broadcastPlan(a.shape, bb.shape);
    const n = size(p.shape);
    const y = b.f32(n);
    if (n > 0) b.addon.binary(op, vals(b, a), vals(b, bb), y, p.meta);
    return out(b, p.shape, 'float32', y);
  };
}

function reduceKernel(name: string, op: number): KFn {
  return (args) => {
    const { x } = args.inputs;
    const attrs = args.attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    if (x.dtype !== 'float32') return fallback(name, args);
    const axes = util.parseAxisParam((attrs.axis ?? attrs.reductionIndices)!, x.shape).sort((p, q) => p - q);
    const b = args.backend;
    if (axes.length === 0) return fallback(name, args);
    for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return fallback(name, args);
    const first = axes[0];
    const last = axes[axes.length - 1];
    const outer = size(x.shape.slice(0, first));
    const mid = size(x.shape.slice(first, last + 1));
    const inner = size(x.shape.slice(last + 1));
    if (mid === 0) return fallback(name, args);
    const shape = attrs.keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last);
    const y = b.f32(outer * inner);
    if (outer * inner > 0) b.addon.reduce(op, vals(b, x), y, outer, mid, inner);
    return out(b, shape, 'float32', y);
  };
}

function softmax(args: Args): TI {
  const { logits } = args.inputs;
  const { dim } = args.attrs as { dim: number };
  const r = logits.shape.length;
  if (logits.dtype !== 'float32' || (dim !== -1 && dim !== r - 1)) return fallback('Softmax', args) as TI;
  const b = args.backend;
  const cols = logits.shape[r - 1];
  const n = size(logits.shape);
  const y = b.f32(n);
  if (n > 0) b.addon.softmax(vals(b, logits), y, n / cols, cols, 0);
  return out(b, logits.shape, 'float32', y);
}

function matmulCore(args: Args, name: string, bias: TI | undefined, relu: boolean): TI {
  return matmulAct(args, name, bias, relu ? 1 : 0) as TI;
}

/** The product (+ bias) with activation `act` (0 none, 1 relu, 2 GELU: returns [gelu(pre), pre]). */
function matmulAct(args: Args, name: string, bias: TI | undefined, act: 0 | 1 | 2): TI | TI[] {
  const { a, b: bb } = args.inputs;
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const b = args.backend;
  const ra = a.shape.length;
  const rb = bb.shape.length;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = bb.shape.slice(0, -2);
  const batchA = size(batchShapeA);
  const batchB = size(batchShapeB);
  if (a.dtype !== 'float32' || bb.dtype !== 'float32' || ra < 2 || rb < 2) return fallback(name, args) as TI;
  if (!(batchA === batchB || batchA === 1 || batchB === 1)) return fallback(name, args) as TI;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const K2 = transposeB ? bb.shape[rb - 1] : bb.shape[rb - 2];
  const N = transposeB ? bb.shape[rb - 2] : bb.shape[rb - 1];
  if (K !== K2) return fallback(name, args) as TI; // the cpu kernel raises the error message
  const batchShape = backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  if (size(batchShape) !== Math.max(batchA, batchB)) return fallback(name, args) as TI;
  const shape = [...batchShape, M, N];
  const y = b.f32(size(shape));
  meta[0] = batchA;
  meta[1] = batchB;
  meta[2] = M;
  meta[3] = N;
  meta[4] = K;
  meta[5] = transposeA ? 1 : 0;
  meta[6] = transposeB ? 1 : 0;
  meta[7] = act;
  const pre = act === 2 ? b.f32(y.length) : undefined;
  if (y.length > 0) b.addon.matmul(vals(b, a), vals(b, bb), y, meta, bias ? vals(b, bias) : null, pre);
  return pre ? [out(b, shape, 'float32', y), out(b, shape, 'float32', pre)] : out(b, shape, 'float32', y);
}

/** NativeLinearGelu {a [M,K], b [K,N] (or [N,K] with transposeB), bias [N]?} → [gelu(a·b + bias), a·b + bias]: one kernel for an MLP's first half. */
function linearGeluKernel(args: Args): TI[] {
  const { a, b: bb, bias } = args.inputs;
  f32Inputs('NativeLinearGelu', bias ? [a, bb, bias] : [a, bb]);
  const tb = Boolean((args.attrs as { transposeB?: boolean }).transposeB);
  const [K, N] = tb ? [bb.shape[1], bb.shape[0]] : bb.shape;
  if (a.shape.length !== 2 || bb.shape.length !== 2 || a.shape[1] !== K || (bias && size(bias.shape) !== N)) {
    throw new Error(`NativeLinearGelu: shapes ${JSON.stringify([a.shape, bb.shape, bias?.shape])} do not make [M,K]·[K,N] + [N]`);
  }
  const r = matmulAct({ ...args, attrs: { transposeA: false, transposeB: tb } }, 'NativeLinearGelu', bias, 2);
  if (!Array.isArray(r)) throw new Error('NativeLinearGelu: operands the native product cannot take');
  return r;
}

function fusedMatMul(args: Args): TI {
  const { bias, preluActivationWeights } = args.inputs;
  const { activation } = args.attrs as { activation: string };
  const { a, b: bb } = args.inputs;
  const N = (args.attrs as { transposeB: boolean }).transposeB ? bb.shape[bb.shape.length - 2] : bb.shape[bb.shape.length - 1];
  const okBias = !bias || (bias.dtype === 'float32' && size(bias.shape) === N && (bias.shape.length === 1 || bias.shape.slice(0, -1).every((d) => d === 1)));
  if (preluActivationWeights || !okBias || (activation !== 'linear' && activation !== 'relu') || a.dtype !== 'float32') return fallback('_FusedMatMul', args) as TI;
  return matmulCore(args, '_FusedMatMul', bias, activation === 'relu');
}

function transpose(args: Args): TI {
  const { x } = args.inputs;
  const { perm } = args.attrs as { perm: number[] };
  if (!quad(x.dtype) || x.shape.length > 8) return fallback('Transpose', args) as TI;
  const b = args.backend;
  const r = x.shape.length;
  const shape = perm.map((p) => x.shape[p]);
  const n = size(shape);
  const y = alloc(b, x.dtype, n);
  if (n === 0) return out(b, shape, x.dtype, y);
  // swapping the last two axes of float32 data: OpenBLAS's blocked copy, batched over leading axes
  if (x.dtype === 'float32' && r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, r - 2).every((p, i) => p === i)) {
    b.addon.transpose2d(vals(b, x), y as Float32Array, size(x.shape.slice(0, -2)), x.shape[r - 2], x.shape[r - 1]);
    return out(b, shape, x.dtype, y);
  }
  meta[0] = r;
  for (let d = 0; d < r; d++) {
    meta[1 + d] = x.shape[d];
    meta[1 + r + d] = perm[d];
  }
  b.addon.transpose(vals(b, x), y, meta);
  return out(b, shape, x.dtype, y);
}

function gather(args: Args): TI {
  const { x, indices } = args.inputs;
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  if (!quad(x.dtype) || indices.dtype !== 'int32' || batchDims !== 0) return fallback('GatherV2', args) as TI;
  const b = args.backend;
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const n = size(shape);
  const y = alloc(b, x.dtype, n);
  if (n > 0) {
    const bad = b.addon.gather(vals(b, x), vals(b, indices) as unknown as Int32Array, y, size(x.shape.slice(0, ax)), x.shape[ax], size(x.shape.slice(ax + 1)));
    if (bad >= 0) {
      const v = (vals(b, indices) as unknown as Int32Array)[bad];
      throw new Error(`GatherV2: the index value ${v} is not in [0, ${x.shape[ax] - 1}]`);
    }
  }
  return out(b, shape, x.dtype, y);
}

function concat(args: Args): TI {
  const inputs = args.inputs as unknown as TI[];
  const { axis } = args.attrs as { axis: number };
  const b = args.backend;
  if (inputs.length === 0 || !quad(inputs[0].dtype) || inputs.some((t) => t.dtype !== inputs[0].dtype)) return fallback('Concat', args) as TI;
  const ax = util.parseAxisParam(axis, inputs[0].shape)[0];
  const live = inputs.filter((t) => size(t.shape) > 0);
  if (live.length <= 1) return fallback('Concat', args) as TI;
  backend_util.assertParamsConsistent(live.map((t) => t.shape), ax);
  const shape = backend_util.computeOutShape(live.map((t) => t.shape), ax);
  const outer = size(shape.slice(0, ax));
  const rowLen = size(shape.slice(ax));
  const y = alloc(b, inputs[0].dtype, size(shape));
  let off = 0;
  for (const t of live) {
    const chunk = size(t.shape.slice(ax));
    b.addon.blocks(vals(b, t), y, outer, chunk, chunk, 0, rowLen, off);
    off += chunk;
  }
  return out(b, shape, inputs[0].dtype, y);
}

function splitV(args: Args): TI[] {
  const { x } = args.inputs;
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
  if (!quad(x.dtype)) return fallback('SplitV', args) as TI[];
  const b = args.backend;
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const outer = size(x.shape.slice(0, ax));
  const inner = size(x.shape.slice(ax + 1));
  const rowLen = x.shape[ax] * inner;
  const src = vals(b, x);
  let off = 0;
  return sizes.map((s) => {
    const shape = x.shape.slice();
    shape[ax] = s;
    const y = alloc(b, x.dtype, outer * s * inner);
    if (y.length > 0) b.addon.blocks(src, y, outer, s * inner, rowLen, off, s * inner, 0);
    off += s * inner;
    return out(b, shape, x.dtype, y);
  });
}

function slice(args: Args): TI {
  const { x } = args.inputs;
  const { begin, size: sz } = args.attrs as { begin: number | number[]; size: number | number[] };
  if (!quad(x.dtype) || x.shape.length > 8 || x.shape.length === 0) return fallback('Slice', args) as TI;
  const [bg, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sz);
  tf.slice_util.assertParamsValid(x as tf.Tensor, bg, sizes);
  const b = args.backend;
  const r = x.shape.length;
  const n = size(sizes);
  const y = alloc(b, x.dtype, n);
  if (n > 0) {
    meta[0] = r;
    for (let d = 0; d < r; d++) {
      meta[1 + d] = x.shape[d];
      meta[1 + r + d] = bg[d];
      meta[1 + 2 * r + d] = sizes[d];
    }
    b.addon.slice(vals(b, x), y, meta);
  }
  return out(b, sizes, x.dtype, y);
}

function tile(args: Args): TI {
  const { x } = args.inputs;
  const { reps } = args.attrs as { reps: number[] };
  if (!quad(x.dtype) || x.shape.length === 0 || x.shape.length > 8) return fallback('Tile', args) as TI;
  const b = args.backend;
  const r = x.shape.length;
  const shape = x.shape.map((d, i) => d * reps[i]);
  const y = alloc(b, x.dtype, size(shape));
  if (y.length > 0) {
    meta[0] = r;
    for (let d = 0; d < r; d++) {
      meta[1 + d] = x.shape[d];
      meta[1 + r + d] = reps[d];
    }
    b.addon.tile(vals(b, x), y, meta);
  }
  return out(b, shape, x.dtype, y);
}

function oneHot(args: Args): TI {
  const { indices } = args.inputs;
  const { depth, onValue, offValue, dtype } = args.attrs as { depth: number; onValue: number; offValue: number; dtype: tf.DataType };
  if (indices.dtype !== 'int32' || !quad(dtype)) return fallback('OneHot', args) as TI;
  const b = args.backend;
  const shape = [...indices.shape, depth];
  const y = alloc(b, dtype, size(shape));
  if (y.length > 0) b.addon.oneHot(vals(b, indices) as unknown as Int32Array, y, depth, onValue, offValue, dtype === 'int32' ? 1 : 0);
  return out(b, shape, dtype, y);
}

function segmentSum(args: Args): TI {
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs as { numSegments: number };
  if (x.dtype !== 'float32' || segmentIds.dtype !== 'int32') return fallback('UnsortedSegmentSum', args) as TI;
  const b = args.backend;
  const idsRank = segmentIds.shape.length;
  const innerShape = x.shape.slice(idsRank);
  const shape = [numSegments, ...innerShape];
  const y = b.f32(size(shape));
  if (y.length > 0) b.addon.segmentSum(vals(b, x), vals(b, segmentIds) as unknown as Int32Array, y, numSegments, size(innerShape));
  return out(b, shape, 'float32', y);
}

function addN(args: Args): TI {
  const inputs = args.inputs as unknown as TI[];
  if (inputs.length === 0 || inputs.some((t) => t.dtype !== 'float32')) return fallback('AddN', args) as TI;
  const b = args.backend;
  const y = b.f32(size(inputs[0].shape));
  if (y.length > 0) b.addon.addn(inputs.map((t) => vals(b, t)), y);
  return out(b, inputs[0].shape, 'float32', y);
}

function cast(args: Args): TI {
  const { x } = args.inputs;
  const { dtype } = args.attrs as { dtype: tf.DataType };
  const kind =
    x.dtype === 'float32' && dtype === 'int32' ? 0 : x.dtype === 'int32' && dtype === 'float32' ? 1 : x.dtype === 'bool' && dtype === 'float32' ? 2 : x.dtype === 'bool' && dtype === 'int32' ? 3 : -1;
  if (kind < 0) return fallback('Cast', args) as TI;
  const b = args.backend;
  const n = size(x.shape);
  const y = alloc(b, dtype, n);
  if (n > 0) b.addon.cast(vals(b, x) as Float32Array, y, kind);
  return out(b, x.shape, dtype, y);
}

// Fused ops (fused.ts): kernels with names of their own, float32 only, registered for `native` alone.
function f32Inputs(name: string, ts: TI[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${name}: float32 tensors expected, got ${t.dtype}`);
}

function layerNormKernel(args: Args): TI[] {
  const { x, gamma, beta } = args.inputs;
  const { eps } = args.attrs as { eps: number };
  f32Inputs('NativeLayerNorm', [x, gamma, beta]);
  const b = args.backend;
  const cols = x.shape[x.shape.length - 1];
  const n = size(x.shape);
  const rows = n / cols;
  const y = b.f32(n);
  const mean = b.f32(rows);
  const rstd = b.f32(rows);
  b.addon.layerNorm(vals(b, x), vals(b, gamma), vals(b, beta), y, mean, rstd, rows, cols, eps);
  return [out(b, x.shape, 'float32', y), out(b, [rows], 'float32', mean), out(b, [rows], 'float32', rstd)];
}

function layerNormGradKernel(args: Args): TI[] {
  const { dy, x, gamma, mean, rstd } = args.inputs;
  const b = args.backend;
  const cols = x.shape[x.shape.length - 1];
  const n = size(x.shape);
  const dx = b.f32(n);
  const dg = b.f32(cols);
  const db = b.f32(cols);
  b.addon.layerNormGrad(vals(b, dy), vals(b, x), vals(b, gamma), vals(b, mean), vals(b, rstd), dx, dg, db, n / cols, cols);
  return [out(b, x.shape, 'float32', dx), out(b, gamma.shape, 'float32', dg), out(b, gamma.shape, 'float32', db)];
}

function softmaxGradKernel(args: Args): TI {
  const { y, dy } = args.inputs;
  f32Inputs('NativeSoftmaxGrad', [y, dy]);
  const b = args.backend;
  const dx = b.f32(size(y.shape));
  if (dx.length > 0) b.addon.softmaxGrad(vals(b, y), vals(b, dy), dx, y.shape[y.shape.length - 1]);
  return out(b, y.shape, 'float32', dx);
}

function sigmoidGradKernel(args: Args): TI {
  const { y, dy } = args.inputs;
  f32Inputs('NativeSigmoidGrad', [y, dy]);
  const b = args.backend;
  const dx = b.f32(size(y.shape));
  b.addon.sigmoidGrad(vals(b, y), vals(b, dy), dx);
  return out(b, y.shape, 'float32', dx);
}

function geluKernel(args: Args): TI {
  const { x } = args.inputs;
  f32Inputs('NativeGelu', [x]);
  const b = args.backend;
  const y = b.f32(size(x.shape));
  b.addon.gelu(vals(b, x), y);
  return out(b, x.shape, 'float32', y);
}

function geluGradKernel(args: Args): TI {
  const { x, dy } = args.inputs;
  const b = args.backend;
  const dx = b.f32(size(x.shape));
  b.addon.geluGrad(vals(b, x), vals(b, dy), dx);
  return out(b, x.shape, 'float32', dx);
}

function logSoftmaxPickKernel(args: Args): TI[] {
  const { x, targets } = args.inputs;
  f32Inputs('NativeLogSoftmaxPick', [x]);
  const b = args.backend;
  const cols = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / cols;
  if (targets.dtype !== 'int32' || size(targets.shape) !== rows) throw new Error(`NativeLogSoftmaxPick: int32 targets of shape [${x.shape.slice(0, -1)}] expected`);
  const y = b.f32(rows);
  const lse = b.f32(rows);
  b.addon.logSoftmaxPick(vals(b, x), vals(b, targets) as unknown as Int32Array, y, lse, cols);
  return [out(b, x.shape.slice(0, -1), 'float32', y), out(b, [rows], 'float32', lse)];
}

function logSoftmaxPickGradKernel(args: Args): TI {
  const { x, targets, lse, dy } = args.inputs;
  const b = args.backend;
  const dx = b.f32(size(x.shape));
  b.addon.logSoftmaxPickGrad(vals(b, x), vals(b, targets) as unknown as Int32Array, vals(b, lse), vals(b, dy), dx, x.shape[x.shape.length - 1]);
  return out(b, x.shape, 'float32', dx);
}

// NativeMatMul2: a1 [M,K1], b1 [K1,N] (or [N,K1] with tB1), a2 [M,K2], b2 likewise, bias [N] optional →
// a1·op(b1) + a2·op(b2) + bias: a frozen projection and its LoRA path in one output buffer.
function matMul2Kernel(args: Args): TI {
  const { a1, b1, a2, b2, bias } = args.inputs;
  const { tB1, tB2 } = args.attrs as { tB1: boolean; tB2: boolean };
  f32Inputs('NativeMatMul2', bias ? [a1, b1, a2, b2, bias] : [a1, b1, a2, b2]);
  const [M, K1] = a1.shape;
  const K2 = a2.shape[1];
  const N = tB1 ? b1.shape[0] : b1.shape[1];
  const ok = a1.shape.length === 2 && a2.shape.length === 2 && a2.shape[0] === M && (tB1 ? b1.shape[1] === K1 : b1.shape[0] === K1) &&
    (tB2 ? b2.shape.join() === [N, K2].join() : b2.shape.join() === [K2, N].join()) && (!bias || size(bias.shape) === N);
  if (!ok) throw new Error(`NativeMatMul2: a1 [M,K1], b1, a2 [M,K2], b2, bias [N] do not fit: [${a1.shape}], [${b1.shape}] tB1 ${tB1}, [${a2.shape}], [${b2.shape}] tB2 ${tB2}${bias ? `, [${bias.shape}]` : ''}`);
  const b = args.backend;
  const y = b.f32(M * N);
  b.addon.matMul2(vals(b, a1), vals(b, b1), vals(b, a2), vals(b, b2), y, Int32Array.of(M, N, K1, K2, tB1 ? 1 : 0, tB2 ? 1 : 0), bias ? vals(b, bias) : null);
  return out(b, [M, N], 'float32', y);
}

// NativeHeadLogProb: x [N,H], w [V,H] (the LM head, frozen), targets [N] int32 → y [N] (and g [N,H],
// ∂y_n/∂x_n, when attrs.grad): log softmax(x·wᵀ/temperature) at the targets without the [N,V] logits.
function headLogProbKernel(args: Args): TI[] {
  const { x, w, targets } = args.inputs;
  const { temperature, grad } = args.attrs as { temperature: number; grad: boolean };
  f32Inputs('NativeHeadLogProb', [x, w]);
  const [N, H] = x.shape;
  const V = w.shape[0];
  if (x.shape.length !== 2 || w.shape.length !== 2 || w.shape[1] !== H || targets.dtype !== 'int32' || size(targets.shape) !== N)
    throw new Error(`NativeHeadLogProb: x [N,H], w [V,H], int32 targets [N] expected, got x [${x.shape}], w [${w.shape}], targets [${targets.shape}] ${targets.dtype}`);
  const b = args.backend;
  const y = b.f32(N);
  const g = grad ? b.f32(N * H) : null;
  b.addon.headLogProb(vals(b, x), vals(b, w), vals(b, targets) as unknown as Int32Array, y, g, N, V, H, temperature);
  const outs = [out(b, [N], 'float32', y)];
  if (g) outs.push(out(b, [N, H], 'float32', g));
  return outs;
}

// NativeAttention: q [B,H,T,D], k, v [B,K,L,D] (K kv heads, H a multiple of K: grouped-query), bias
// [Bb,1,T,L] or [Bb,T,L] (Bb = 1 or B) → y [B,H,T,D], probs [B,H,T,L]
function attentionKernel(args: Args): TI[] {
  const { q, k, v, bias } = args.inputs;
  const { scale } = args.attrs as { scale: number };
  f32Inputs('NativeAttention', [q, k, v, bias]);
  const [B, H, T, D] = q.shape;
  const [, K, L] = k.shape;
  const Bb = bias.shape[0];
  if (q.shape.length !== 4 || k.shape.join() !== [B, K, L, D].join() || !(K >= 1 && H % K === 0) || v.shape.join() !== k.shape.join() || (Bb !== 1 && Bb !== B) || size(bias.shape) !== Bb * T * L)
    throw new Error(`NativeAttention: q [B,H,T,D], k/v [B,K,L,D] with H a multiple of K, bias [1|B,1,T,L] expected, got q [${q.shape}], k [${k.shape}], v [${v.shape}], bias [${bias.shape}]`);
  const b = args.backend;
  const y = b.f32(B * H * T * D);
  const p = b.f32(B * H * T * L);
  if (y.length > 0 && p.length > 0) b.addon.attention(vals(b, q), vals(b, k), vals(b, v), vals(b, bias), y, p, Int32Array.of(B, H, T, L, D, Bb, L, K), scale);
  return [out(b, [B, H, T, D], 'float32', y), out(b, [B, H, T, L], 'float32', p)];
}

// NativeKVCache: a zeroed float32 buffer of `shape` ([B,K,S,D]) that NativeAttentionCached may write
// in place (a fresh buffer of ours: one data id holds it and no one outside the backend sees it).
function kvCacheKernel(args: Args): TI {
  const { shape } = args.attrs as { shape: number[] };
  const b = args.backend;
  const y = b.f32(size(shape));
  y.fill(0);
  return out(b, shape, 'float32', y);
}

// NativeAttentionCached: q [B,H,T,D], k, v [B,K,T,D] of the new positions (K kv heads, H a multiple
// of K); kc, vc [B,K,S,D] a KV cache (from NativeKVCache) holding `past` positions; bias [Bb,1,T,L]
// with L = past + T. Writes k, v into the cache at positions past…L−1 in place, then attention over
// its first L positions → y [B,H,T,D] (the same arithmetic as NativeAttention over the concatenated
// keys and values; inference only).
function attentionCachedKernel(args: Args): TI {
  const { q, k, v, kc, vc, bias } = args.inputs;
  const { scale, past } = args.attrs as { scale: number; past: number };
  f32Inputs('NativeAttentionCached', [q, k, v, kc, vc, bias]);
  const [B, H, T, D] = q.shape;
  const K = k.shape[1];
  const S = kc.shape[2];
  const L = past + T;
  const Bb = bias.shape[0];
  if (k.shape.join() !== [B, K, T, D].join() || !(K >= 1 && H % K === 0) || v.shape.join() !== k.shape.join() || kc.shape.join() !== [B, K, S, D].join() || vc.shape.join() !== kc.shape.join() || L > S || (Bb !== 1 && Bb !== B) || size(bias.shape) !== Bb * T * L)
    throw new Error(`NativeAttentionCached: q [B,H,T,D], k/v [B,K,T,D] with H a multiple of K, caches [B,K,S,D] with past + T ≤ S, bias [1|B,1,T,past+T] expected, got q [${q.shape}], k [${k.shape}], v [${v.shape}], cache [${kc.shape}], past ${past}, bias [${bias.shape}]`);
  const b = args.backend;
  if (!b.writable(kc) || !b.writable(vc)) throw new Error('NativeAttentionCached: the KV cache must come from NativeKVCache and be held by one tensor only');
  const [kv, vv, kcv, vcv] = [vals(b, k), vals(b, v), vals(b, kc), vals(b, vc)];
  for (let i = 0; i < B * K; i++) {
    kcv.set(kv.subarray(i * T * D, (i + 1) * T * D), (i * S + past) * D);
    vcv.set(vv.subarray(i * T * D, (i + 1) * T * D), (i * S + past) * D);
  }
  const y = b.f32(B * H * T * D);
  const p = b.f32(B * H * T * L);
  if (y.length > 0 && p.length > 0) b.addon.attention(vals(b, q), kcv, vcv, vals(b, bias), y, p, Int32Array.of(B, H, T, L, D, Bb, S, K), scale);
  b.disposeData(out(b, [B, H, T, L], 'float32', p).dataId); // the probabilities: no gradient here
  return out(b, [B, H, T, D], 'float32', y);
}

function attentionGradKernel(args: Args): TI[] {
  const { dy, q, k, v, probs } = args.inputs;
  const { scale } = args.attrs as { scale: number };
  const [B, H, T, D] = q.shape;
  const [, K, L] = k.shape;
  const b = args.backend;
  const [dq, dk, dv] = [b.f32(B * H * T * D), b.f32(B * K * L * D), b.f32(B * K * L * D)];
  if (dq.length > 0 && dk.length > 0) b.addon.attentionGrad(vals(b, dy), vals(b, q), vals(b, k), vals(b, v), vals(b, probs), dq, dk, dv, Int32Array.of(B, H, T, L, D, K), scale);
  else {
    dk.fill(0);
    dv.fill(0);
  }
  return [out(b, q.shape, 'float32', dq), out(b, k.shape, 'float32', dk), out(b, v.shape, 'float32', dv)];
}

// NativeRMSNorm: x [..., C], w [C], attr eps → y = w·x/√(mean(x²) + eps), rstd [rows] (saved for the gradient)
function rmsNormKernel(args: Args): TI[] {
  const { x, w } = args.inputs;
  const { eps } = args.attrs as { eps: number };
  f32Inputs('NativeRMSNorm', [x, w]);
  const cols = x.shape[x.shape.length - 1];
  if (w.shape.length !== 1 || w.shape[0] !== cols) throw new Error(`NativeRMSNorm: weight [${cols}] expected for x [${x.shape}], got [${w.shape}]`);
  const b = args.backend;
  const n = size(x.shape);
  const rows = cols > 0 ? n / cols : 0;
  const y = b.f32(n);
  const rstd = b.f32(rows);
  if (n > 0) b.addon.rmsNorm(vals(b, x), vals(b, w), y, rstd, rows, cols, eps);
  return [out(b, x.shape, 'float32', y), out(b, [rows], 'float32', rstd)];
}

// NativeRMSNormGrad: dy, x [..., C], w [C], rstd [rows] → dx [..., C], dw [C]
function rmsNormGradKernel(args: Args): TI[] {
  const { dy, x, w, rstd } = args.inputs;
  const b = args.backend;
  const cols = x.shape[x.shape.length - 1];
  const n = size(x.shape);
  const dx = b.f32(n);
  const dw = b.f32(cols);
  if (n > 0) b.addon.rmsNormGrad(vals(b, dy), vals(b, x), vals(b, w), vals(b, rstd), dx, dw, n / cols, cols);
  else dw.fill(0);
  return [out(b, x.shape, 'float32', dx), out(b, w.shape, 'float32', dw)];
}

// NativeRope: x [B,n,T,D] (layout 0) or [B,T,n,D] (layout 1), cos, sin [Bc,1,T,D] or [Bc,T,D] (Bc = 1
// or B) → [B,n,T,D] rotated (rotate_half). attr inverse: the gradient, reading [B,n,T,D] and
// writing `layout`.
function ropeKernel(args: Args): TI {
  const { x, cos, sin } = args.inputs;
  const { layout, inverse } = args.attrs as { layout: number; inverse: boolean };
  f32Inputs('NativeRope', [x, cos, sin]);
  const s = x.shape;
  const [B, n, T, D] = inverse || layout === 0 ? s : [s[0], s[2], s[1], s[3]];
  const Bc = cos.shape[0];
  if (s.length !== 4 || D % 2 !== 0 || (Bc !== 1 && Bc !== B) || size(cos.shape) !== Bc * T * D || sin.shape.join() !== cos.shape.join())
    throw new Error(`NativeRope: x [B,n,T,D] (or [B,T,n,D]) with D even, cos/sin [1|B,1,T,D] expected, got x [${s}] (layout ${layout}), cos [${cos.shape}], sin [${sin.shape}]`);
  const b = args.backend;
  const y = b.f32(size(s));
  if (y.length > 0) b.addon.rope(vals(b, x), vals(b, cos), vals(b, sin), y, Int32Array.of(B, n, T, D, Bc, layout, inverse ? 1 : 0));
  const outShape = !inverse || layout === 0 ? [B, n, T, D] : [B, T, n, D];
  return out(b, outShape, 'float32', y);
}

// NativeSwiGLU: gate, up (same shape) → silu(gate)·up; NativeSwiGLUGrad: gate, up, dy → dgate, dup
function swigluKernel(args: Args): TI {
  const { gate, up } = args.inputs;
  f32Inputs('NativeSwiGLU', [gate, up]);
  if (gate.shape.join() !== up.shape.join()) throw new Error(`NativeSwiGLU: gate and up must have one shape, got [${gate.shape}] and [${up.shape}]`);
  const b = args.backend;
  const y = b.f32(size(gate.shape));
  if (y.length > 0) b.addon.swiglu(vals(b, gate), vals(b, up), y);
  return out(b, gate.shape, 'float32', y);
}

function swigluGradKernel(args: Args): TI[] {
  const { gate, up, dy } = args.inputs;
  const b = args.backend;
  const n = size(gate.shape);
  const [dg, du] = [b.f32(n), b.f32(n)];
  if (n > 0) b.addon.swigluGrad(vals(b, gate), vals(b, up), vals(b, dy), dg, du);
  return [out(b, gate.shape, 'float32', dg), out(b, gate.shape, 'float32', du)];
}

// NativeAttentionPacked: qkv [B,T,3C] (c_attn's output: q, k, v side by side, heads inside each), bias
// [Bb,1,T,T] or [Bb,T,T], attr heads → y [B,T,C] (heads merged), probs [B,H,T,T]
function attentionPackedKernel(args: Args): TI[] {
  const { qkv, bias } = args.inputs;
  const { scale, heads: H } = args.attrs as { scale: number; heads: number };
  f32Inputs('NativeAttentionPacked', [qkv, bias]);
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  const D = C / H;
  const Bb = bias.shape[0];
  if (qkv.shape.length !== 3 || !Number.isInteger(D) || D < 1 || (Bb !== 1 && Bb !== B) || size(bias.shape) !== Bb * T * T)
    throw new Error(`NativeAttentionPacked: qkv [B,T,3·heads·D], bias [1|B,1,T,T] expected, got qkv [${qkv.shape}] with ${H} heads, bias [${bias.shape}]`);
  const b = args.backend;
  const y = b.f32(B * T * C);
  const p = b.f32(B * H * T * T);
  if (y.length > 0) b.addon.attentionPacked(vals(b, qkv), vals(b, bias), y, p, Int32Array.of(B, H, T, D, Bb), scale);
  return [out(b, [B, T, C], 'float32', y), out(b, [B, H, T, T], 'float32', p)];
}

function attentionPackedGradKernel(args: Args): TI {
  const { dy, qkv, probs } = args.inputs;
  const { scale, heads: H } = args.attrs as { scale: number; heads: number };
  const [B, T, C3] = qkv.shape;
  const b = args.backend;
  const dqkv = b.f32(size(qkv.shape));
  if (dqkv.length > 0) b.addon.attentionPackedGrad(vals(b, dy), vals(b, qkv), vals(b, probs), dqkv, Int32Array.of(B, H, T, C3 / 3 / H), scale);
  return out(b, qkv.shape, 'float32', dqkv);
}

function adamKernel(args: Args): TI[] {
  const { p, m, v, g } = args.inputs;
  const o = args.attrs as { beta1: number; beta2: number; stepSize: number; bc2sqrt: number; eps: number; decay: number };
  f32Inputs('NativeAdam', [p, m, v, g]);
  const b = args.backend;
  const n = size(p.shape);
  const [p2, m2, v2] = [b.f32(n), b.f32(n), b.f32(n)];
  p2.set(vals(b, p));
  m2.set(vals(b, m));
  v2.set(vals(b, v));
  b.addon.adam(p2, m2, v2, vals(b, g), o.beta1, o.beta2, o.stepSize, o.bc2sqrt, o.eps, o.decay);
  return [out(b, p.shape, 'float32', p2), out(b, p.shape, 'float32', m2), out(b, p.shape, 'float32', v2)];
}

/** Native kernels by kernel name; every other kernel is the cpu backend's. */
export function nativeKernels(): Map<string, KFn> {
  const k = new Map<string, KFn>();
  for (const [n, op] of Object.entries(UNARY)) k.set(n, unaryKernel(n, op));
  for (const [n, op] of Object.entries(BINARY)) k.set(n, binaryKernel(n, op));
  for (const [n, op] of Object.entries(REDUCE)) k.set(n, reduceKernel(n, op));
  k.set('Softmax', softmax);
  k.set('BatchMatMul', (a) => matmulCore(a, 'BatchMatMul', undefined, false));
  k.set('_FusedMatMul', fusedMatMul);
  k.set('Transpose', transpose);
  k.set('GatherV2', gather);
  k.set('Concat', concat);
  k.set('SplitV', splitV);
  k.set('Slice', slice);
  k.set('Tile', tile);
  k.set('OneHot', oneHot);
  k.set('UnsortedSegmentSum', segmentSum);
  k.set('AddN', addN);
  k.set('Cast', cast);
  k.set('BroadcastTo', broadcastTo);
  k.set('NativeLayerNorm', layerNormKernel);
  k.set('NativeLayerNormGrad', layerNormGradKernel);
  k.set('NativeGelu', geluKernel);
  k.set('NativeLinearGelu', linearGeluKernel);
  k.set('NativeGeluGrad', geluGradKernel);
  k.set('NativeLogSoftmaxPick', logSoftmaxPickKernel);
  k.set('NativeLogSoftmaxPickGrad', logSoftmaxPickGradKernel);
  k.set('NativeHeadLogProb', headLogProbKernel);
  k.set('NativeMatMul2', matMul2Kernel);
  k.set('NativeAdam', adamKernel);
  k.set('NativeAttention', attentionKernel);
  k.set('NativeAttentionGrad', attentionGradKernel);
  k.set('NativeKVCache', kvCacheKernel);
  k.set('NativeAttentionCached', attentionCachedKernel);
  k.set('NativeAttentionPacked', attentionPackedKernel);
  k.set('NativeAttentionPackedGrad', attentionPackedGradKernel);
  k.set('NativeRMSNorm', rmsNormKernel);
  k.set('NativeRMSNormGrad', rmsNormGradKernel);
  k.set('NativeRope', ropeKernel);
  k.set('NativeSwiGLU', swigluKernel);
  k.set('NativeSwiGLUGrad', swigluGradKernel);
  k.set('NativeSoftmaxGrad', softmaxGradKernel);
  k.set('NativeSigmoidGrad', sigmoidGradKernel);
  return k;
}

let registered: { ok: boolean; reason?: string } | undefined;

/**
 * Register the `native` backend (once). Returns ok=false with the reason when the addon is missing;
 * nothing is registered then.
 */
export function registerNative(): { ok: boolean; reason?: string } {
  if (registered) return registered;
  const { addon, reason } = loadAddon();
  if (!addon) return (registered = { ok: false, reason });
  const cpu = tf.getKernelsForBackend('cpu');
  if (cpu.length === 0) return (registered = { ok: false, reason: 'the cpu backend kernels are not registered' });
  cpuKernels = new Map(cpu.map((c) => [c.kernelName, c.kernelFunc]));
  const native = nativeKernels();
  for (const c of cpu) tf.registerKernel({ ...c, backendName: NATIVE, kernelFunc: (native.get(c.kernelName) ?? c.kernelFunc) as tf.KernelFunc });
  for (const [name, fn] of native) if (!cpuKernels.has(name)) tf.registerKernel({ kernelName: name, backendName: NATIVE, kernelFunc: fn as tf.KernelFunc });
  // Priority below cpu: the backend is only used when asked for (runtime/tensor-backend.ts does that).
  tf.registerBackend(NATIVE, () => new NativeBackend(addon), 0);
  overrideReduceGradients();
  return (registered = { ok: true });
}

/** Info for the banner: SIMD path, GEMM (own or OpenBLAS), threads. */
export function nativeInfo(): NativeInfo | undefined {
  return loadAddon().addon?.info();
}
