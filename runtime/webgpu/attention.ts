// Attention as WGSL kernels on the webgpu backend (the native backend's NativeAttention for the GPU):
// o = softmax(scale·q·kᵀ + bias)·v with q [B,H,T,D], k and v [B,K,L,D] (grouped-query: H a multiple of
// K, query head h reads kv head h / (H/K) in place, no repeated copy) and an additive bias [1|B,1,T,L]
// shared over the heads (causal, padding, segments, windows: 0 allowed, −1e9 masked).
//
// Forward, one workgroup per block of 8 query rows of a head (each row of k and v read serves the 8):
// the scores twice — once for each row's maximum m and sum of exponentials s (combined online over the
// workgroup), once in chunks of 128 keys whose probabilities exp(x − m)/s, kept in workgroup memory,
// weight the rows of v — and it writes o and each row's m and 1/s (kept apart: m + log s rounds to m
// when m is −1e9, a fully masked row such as a left-padded query, whose probabilities are then
// uniform, as the composite's are). Nothing of size T·L is written.
// Backward, flash-style: the probabilities are recomputed from q, k, bias and the saved m, 1/s
// instead of being saved [B,H,T,L] in the forward pass — memory O(T) per head instead of O(T·L), for
// one more q·kᵀ. Three dispatches: Δ = rowsum(dO∘o) (beside m and 1/s in one buffer: a shader binds
// at most 8 storage buffers); dq, one workgroup per block of 4 query rows (dS = P∘(dO·vᵀ − Δ),
// dq = scale·dS·k); dk and dv, one workgroup per block of 4 key rows of a kv head, summed over the
// query heads of its group (dv = Pᵀ·dO, dk = scale·dSᵀ·q). The bias gets no gradient (a mask).
// Workgroup memory stays within WebGPU's default 16 KiB.
// Head size up to 256; larger heads, other bias shapes and attention dropout use the composite ops.

import * as tf from '@tensorflow/tfjs';
import { dispatch, type GpuBackend } from './dispatch.ts';

const HEADER = /* wgsl */ `
struct U { a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, };
// u.a = (B, H, K, T); u.b = (L, D, bias batch (1 or B), scale); u.c.x = the rows k and v hold per head
// (L, or a KV cache's capacity S ≥ L)
const WG = 128u;
`;
// the sizes of u, unpacked at the top of a kernel's main()
const DIMS = /* wgsl */ `let B = u32(u.a.x); let H = u32(u.a.y); let K = u32(u.a.z); let T = u32(u.a.w);
  let L = u32(u.b.x); let D = u32(u.b.y); let Bb = u32(u.b.z); let scale = u.b.w;`;
// what both backward kernels read: the forward's inputs, dO and the per-row stats (bindings 0–5)
const GRAD_INPUTS = /* wgsl */ `@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;`;

// Forward: one workgroup per block of QB = 8 query rows of one head, so that each row of k and v read
// serves 8 queries (k and v are read from memory once per block instead of once per row).
const FORWARD = /* wgsl */ `${HEADER}
const QB = 8u;
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>; // [m (rows), 1/s (rows)]
@group(0) @binding(6) var<uniform> u: U;
var<workgroup> qs: array<f32, 2048>; // QB × 256
var<workgroup> ps: array<f32, 1024>; // QB × WG: a chunk's probabilities, and the maxima's reduction
var<workgroup> rs: array<f32, 1024>; // QB × WG: the sums' reduction
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${DIMS}
  let nb = (T + QB - 1u) / QB;
  let blk = wid.x + wid.y * nw.x;
  if (blk >= B * H * nb) { return; }
  let bh = blk / nb;
  let t0 = (blk % nb) * QB;
  let nq = min(QB, T - t0);
  let h = bh % H;
  let b = bh / H;
  let row0 = bh * T + t0; // the block's first query row
  let kb = (b * K + h / (H / K)) * u32(u.c.x) * D;
  let bb = (select(b, 0u, Bb == 1u) * T + t0) * L; // bias row of the block's first query
  for (var e = lid.x; e < QB * D; e += WG) {
    let r = e / D;
    let d = e % D;
    var x = 0.0;
    if (r < nq) { x = q[(row0 + r) * D + d] * scale; }
    qs[r * 256u + d] = x;
  }
  workgroupBarrier();
  var m: array<f32, 8>;
  var s: array<f32, 8>;
  for (var r = 0u; r < QB; r++) { m[r] = -3.4028234663852886e38; s[r] = 0.0; }
  for (var j = lid.x; j < L; j += WG) {
    var dot = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var d = 0u; d < D; d++) {
      let kv = k[kb + j * D + d];
      for (var r = 0u; r < QB; r++) { dot[r] += qs[r * 256u + d] * kv; }
    }
    for (var r = 0u; r < nq; r++) {
      let x = dot[r] + bias[bb + r * L + j];
      let mn = max(m[r], x);
      s[r] = s[r] * exp(m[r] - mn) + exp(x - mn);
      m[r] = mn;
    }
  }
  for (var r = 0u; r < QB; r++) { ps[r * WG + lid.x] = m[r]; rs[r * WG + lid.x] = s[r]; }
  workgroupBarrier();
  for (var w = 64u; w > 0u; w >>= 1u) {
    if (lid.x < w) {
      for (var r = 0u; r < QB; r++) {
        let a = r * WG + lid.x;
        let m2 = max(ps[a], ps[a + w]);
        rs[a] = rs[a] * exp(ps[a] - m2) + rs[a + w] * exp(ps[a + w] - m2);
        ps[a] = m2;
      }
    }
    workgroupBarrier();
  }
  // p = exp(x − m) / s: m and s kept apart (m + log s rounds to m when m is −1e9, a fully masked row)
  var m0: array<f32, 8>;
  var is0: array<f32, 8>;
  for (var r = 0u; r < QB; r++) { m0[r] = ps[r * WG]; is0[r] = 1.0 / max(rs[r * WG], 1e-30); }
  var acc0 = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  var acc1 = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  for (var c = 0u; c < L; c += WG) {
    let j = c + lid.x;
    var p = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    if (j < L) {
      var dot = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
      for (var d = 0u; d < D; d++) {
        let kv = k[kb + j * D + d];
        for (var r = 0u; r < QB; r++) { dot[r] += qs[r * 256u + d] * kv; }
      }
      for (var r = 0u; r < nq; r++) { p[r] = exp(dot[r] + bias[bb + r * L + j] - m0[r]) * is0[r]; }
    }
    workgroupBarrier();
    for (var r = 0u; r < QB; r++) { ps[r * WG + lid.x] = p[r]; }
    workgroupBarrier();
    let n = min(WG, L - c);
    if (lid.x < D) {
      for (var jj = 0u; jj < n; jj++) {
        let vv = v[kb + (c + jj) * D + lid.x];
        for (var r = 0u; r < QB; r++) { acc0[r] += ps[r * WG + jj] * vv; }
      }
    }
    if (lid.x + WG < D) {
      for (var jj = 0u; jj < n; jj++) {
        let vv = v[kb + (c + jj) * D + lid.x + WG];
        for (var r = 0u; r < QB; r++) { acc1[r] += ps[r * WG + jj] * vv; }
      }
    }
  }
  for (var r = 0u; r < nq; r++) {
    if (lid.x < D) { o[(row0 + r) * D + lid.x] = acc0[r]; }
    if (lid.x + WG < D) { o[(row0 + r) * D + lid.x + WG] = acc1[r]; }
    if (lid.x == 0u) { lse[row0 + r] = m0[r]; lse[B * H * T + row0 + r] = is0[r]; }
  }
}`;

// Sampling: the new positions' k, v [B,K,T,D] written into the caches [B,K,S,D] at rows past…past+T−1
// (u.c = (S, past, 0, 0)); one invocation per element
const CACHE_WRITE = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> k: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<f32>;
@group(0) @binding(3) var<storage, read_write> vc: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * WG;
  if (i >= arrayLength(&k)) { return; }
  let T = u32(u.a.w); let D = u32(u.b.y); let S = u32(u.c.x); let past = u32(u.c.y);
  let d = i % D;
  let t = (i / D) % T;
  let bk = i / (D * T);
  let at = (bk * S + past + t) * D + d;
  kc[at] = k[i];
  vc[at] = v[i];
}`;

// stats = [m (B·H·T), 1/s (B·H·T), Δ (B·H·T)], Δ = Σ_d dO·o per query row
const DELTA = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let row = gid.x + gid.y * nw.x * WG;
  let rows = arrayLength(&lse) / 2u;
  if (row >= rows) { return; }
  let D = u32(u.b.y);
  var acc = 0.0;
  for (var d = 0u; d < D; d++) { acc += dout[row * D + d] * o[row * D + d]; }
  stats[row] = lse[row];
  stats[rows + row] = lse[rows + row];
  stats[2u * rows + row] = acc;
}`;

// dq: one workgroup per block of 4 query rows of one head (each k and v row read once per block)
const DQ = /* wgsl */ `${HEADER}
const QB = 4u;
${GRAD_INPUTS}
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<uniform> u: U;
var<workgroup> qs: array<f32, 1024>; // QB × 256
var<workgroup> gs: array<f32, 1024>; // QB × 256
var<workgroup> ds: array<f32, 512>; // QB × WG
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${DIMS}
  let rows = B * H * T;
  let nb = (T + QB - 1u) / QB;
  let blk = wid.x + wid.y * nw.x;
  if (blk >= B * H * nb) { return; }
  let bh = blk / nb;
  let t0 = (blk % nb) * QB;
  let nq = min(QB, T - t0);
  let h = bh % H;
  let b = bh / H;
  let row0 = bh * T + t0;
  let kb = (b * K + h / (H / K)) * L * D;
  let bb = (select(b, 0u, Bb == 1u) * T + t0) * L;
  for (var e = lid.x; e < QB * D; e += WG) {
    let r = e / D;
    let d = e % D;
    var x = 0.0;
    var g = 0.0;
    if (r < nq) { x = q[(row0 + r) * D + d] * scale; g = dout[(row0 + r) * D + d]; }
    qs[r * 256u + d] = x;
    gs[r * 256u + d] = g;
  }
  workgroupBarrier();
  var m0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var is0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var delta = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var r = 0u; r < nq; r++) { m0[r] = stats[row0 + r]; is0[r] = stats[rows + row0 + r]; delta[r] = stats[2u * rows + row0 + r]; }
  var acc0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var acc1 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var c = 0u; c < L; c += WG) {
    let j = c + lid.x;
    var g = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    if (j < L) {
      var dot = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
      var dp = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
      for (var d = 0u; d < D; d++) {
        let kv = k[kb + j * D + d];
        let vv = v[kb + j * D + d];
        for (var r = 0u; r < QB; r++) { dot[r] += qs[r * 256u + d] * kv; dp[r] += gs[r * 256u + d] * vv; }
      }
      for (var r = 0u; r < nq; r++) {
        let p = exp(dot[r] + bias[bb + r * L + j] - m0[r]) * is0[r];
        g[r] = p * (dp[r] - delta[r]);
      }
    }
    workgroupBarrier();
    for (var r = 0u; r < QB; r++) { ds[r * WG + lid.x] = g[r]; }
    workgroupBarrier();
    let n = min(WG, L - c);
    if (lid.x < D) {
      for (var jj = 0u; jj < n; jj++) {
        let kv = k[kb + (c + jj) * D + lid.x];
        for (var r = 0u; r < QB; r++) { acc0[r] += ds[r * WG + jj] * kv; }
      }
    }
    if (lid.x + WG < D) {
      for (var jj = 0u; jj < n; jj++) {
        let kv = k[kb + (c + jj) * D + lid.x + WG];
        for (var r = 0u; r < QB; r++) { acc1[r] += ds[r * WG + jj] * kv; }
      }
    }
  }
  for (var r = 0u; r < nq; r++) {
    if (lid.x < D) { dq[(row0 + r) * D + lid.x] = acc0[r] * scale; }
    if (lid.x + WG < D) { dq[(row0 + r) * D + lid.x + WG] = acc1[r] * scale; }
  }
}`;

// dk, dv: one workgroup per block of 4 key rows of one kv head, over the query heads of its group
// (each q and dO row read once per block)
const DKV = /* wgsl */ `${HEADER}
const KB = 4u;
${GRAD_INPUTS}
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> u: U;
var<workgroup> ks: array<f32, 1024>; // KB × 256
var<workgroup> vs: array<f32, 1024>; // KB × 256
var<workgroup> ps: array<f32, 512>; // KB × WG
var<workgroup> ds: array<f32, 512>; // KB × WG
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${DIMS}
  let rows = B * H * T;
  let nb = (L + KB - 1u) / KB;
  let blk = wid.x + wid.y * nw.x; // over B·K·nb
  if (blk >= B * K * nb) { return; }
  let bk = blk / nb; // b·K + kv head
  let j0 = (blk % nb) * KB;
  let nk = min(KB, L - j0);
  let kh = bk % K;
  let b = bk / K;
  let krow0 = bk * L + j0;
  let bb = select(b, 0u, Bb == 1u) * T * L;
  for (var e = lid.x; e < KB * D; e += WG) {
    let r = e / D;
    let d = e % D;
    var kx = 0.0;
    var vx = 0.0;
    if (r < nk) { kx = k[(krow0 + r) * D + d]; vx = v[(krow0 + r) * D + d]; }
    ks[r * 256u + d] = kx;
    vs[r * 256u + d] = vx;
  }
  workgroupBarrier();
  let G = H / K;
  var dk0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0); var dk1 = array<f32, 4>(0.0, 0.0, 0.0, 0.0); var dv0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0); var dv1 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var h = kh * G; h < (kh + 1u) * G; h++) {
    let qb = (b * H + h) * T; // first query row of this head
    for (var c = 0u; c < T; c += WG) {
      let i = c + lid.x;
      var p = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
      var g = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
      if (i < T) {
        let rw = qb + i;
        var dot = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        var dp = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        for (var d = 0u; d < D; d++) {
          let qx = q[rw * D + d] * scale;
          let gx = dout[rw * D + d];
          for (var r = 0u; r < KB; r++) { dot[r] += qx * ks[r * 256u + d]; dp[r] += gx * vs[r * 256u + d]; }
        }
        for (var r = 0u; r < nk; r++) {
          p[r] = exp(dot[r] + bias[bb + i * L + j0 + r] - stats[rw]) * stats[rows + rw];
          g[r] = p[r] * (dp[r] - stats[2u * rows + rw]);
        }
      }
      workgroupBarrier();
      for (var r = 0u; r < KB; r++) { ps[r * WG + lid.x] = p[r]; ds[r * WG + lid.x] = g[r]; }
      workgroupBarrier();
      let n = min(WG, T - c);
      if (lid.x < D) {
        for (var ii = 0u; ii < n; ii++) {
          let at = (qb + c + ii) * D + lid.x;
          let gx = dout[at];
          let qx = q[at];
          for (var r = 0u; r < KB; r++) { dv0[r] += ps[r * WG + ii] * gx; dk0[r] += ds[r * WG + ii] * qx; }
        }
      }
      if (lid.x + WG < D) {
        for (var ii = 0u; ii < n; ii++) {
          let at = (qb + c + ii) * D + lid.x + WG;
          let gx = dout[at];
          let qx = q[at];
          for (var r = 0u; r < KB; r++) { dv1[r] += ps[r * WG + ii] * gx; dk1[r] += ds[r * WG + ii] * qx; }
        }
      }
    }
  }
  for (var r = 0u; r < nk; r++) {
    let at = (krow0 + r) * D + lid.x;
    if (lid.x < D) { dk[at] = dk0[r] * scale; dv[at] = dv0[r]; }
    if (lid.x + WG < D) { dk[at + WG] = dk1[r] * scale; dv[at + WG] = dv1[r]; }
  }
}`;

type Dims = { B: number; H: number; K: number; T: number; L: number; D: number; Bb: number };

function dimsOf(q: tf.TensorInfo, k: tf.TensorInfo, bias: tf.TensorInfo): Dims {
  const [B, H, T, D] = q.shape;
  const [, K, L] = k.shape;
  return { B, H, K, T, L, D, Bb: bias.shape[0] };
}

function uniforms(d: Dims, scale: number, rows = d.L, past = 0): number[][] {
  return [
    [d.B, d.H, d.K, d.T],
    [d.L, d.D, d.Bb, scale],
    [rows, past, 0, 0],
  ];
}

let registered = false;

/** Register the attention kernels under the webgpu backend (once; after tfjs-backend-webgpu is imported). */
export function registerAttentionKernels(): void {
  if (registered) return;
  tf.registerKernel({
    kernelName: 'WebGPUAttention',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as GpuBackend;
      const { q, k, v, bias } = inputs as Record<string, tf.TensorInfo>;
      const d = dimsOf(q, k, bias);
      const o = b.makeTensorInfo([...q.shape], 'float32');
      const lse = b.makeTensorInfo([2 * d.B * d.H * d.T], 'float32');
      dispatch(b, FORWARD, [q, k, v, bias, o, lse], uniforms(d, (attrs as { scale: number }).scale), d.B * d.H * Math.ceil(d.T / 8), [o, lse], 'AttentionForward');
      return [o, lse];
    },
  });
  tf.registerKernel({
    kernelName: 'WebGPUAttentionCached',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as GpuBackend;
      const { q, k, v, kc, vc, bias } = inputs as Record<string, tf.TensorInfo>;
      const { scale, past } = attrs as { scale: number; past: number };
      const S = kc.shape[2];
      const d = { ...dimsOf(q, k, bias), L: past + q.shape[2] };
      const u = uniforms(d, scale, S, past);
      dispatch(b, CACHE_WRITE, [k, v, kc, vc], u, Math.ceil(tf.util.sizeFromShape(k.shape) / 128), [kc, vc], 'KVCacheWrite');
      const o = b.makeTensorInfo([...q.shape], 'float32');
      const lse = b.makeTensorInfo([2 * d.B * d.H * d.T], 'float32');
      dispatch(b, FORWARD, [q, kc, vc, bias, o, lse], u, d.B * d.H * Math.ceil(d.T / 8), [o, lse], 'AttentionForward');
      (backend as unknown as { disposeData(id: object): void }).disposeData(lse.dataId);
      return o;
    },
  });
  tf.registerKernel({
    kernelName: 'WebGPUAttentionGrad',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as GpuBackend;
      const { q, k, v, bias, o, lse, dy } = inputs as Record<string, tf.TensorInfo>;
      const d = dimsOf(q, k, bias);
      const u = uniforms(d, (attrs as { scale: number }).scale);
      const rows = d.B * d.H * d.T;
      const stats = b.makeTensorInfo([3 * rows], 'float32');
      const dq = b.makeTensorInfo([...q.shape], 'float32');
      const dk = b.makeTensorInfo([...k.shape], 'float32');
      const dv = b.makeTensorInfo([...v.shape], 'float32');
      dispatch(b, DELTA, [dy, o, lse, stats], u, Math.ceil(rows / 128), [stats], 'AttentionDelta');
      dispatch(b, DQ, [q, k, v, bias, dy, stats, dq], u, d.B * d.H * Math.ceil(d.T / 4), [dq], 'AttentionDq');
      dispatch(b, DKV, [q, k, v, bias, dy, stats, dk, dv], u, d.B * d.K * Math.ceil(d.L / 4), [dk, dv], 'AttentionDkDv');
      (backend as unknown as { disposeData(id: object): void }).disposeData(stats.dataId);
      return [dq, dk, dv];
    },
  });
  registered = true;
}

/** Whether the kernels take these shapes: q [B,H,T,D], k and v [B,K,L,D] with K dividing H, bias [1|B,1,T,L], D ≤ 256, float32. */
export function webgpuAttentionFits(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor): boolean {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4 || bias.rank !== 4) return false;
  const [B, H, T, D] = q.shape;
  const [Bk, K, L, Dk] = k.shape;
  if (Bk !== B || Dk !== D || K === 0 || H % K !== 0 || D > 256 || D === 0) return false;
  if (v.shape.join() !== k.shape.join()) return false;
  if (!(bias.shape[0] === 1 || bias.shape[0] === B) || bias.shape[1] !== 1 || bias.shape[2] !== T || bias.shape[3] !== L) return false;
  return [q, k, v, bias].every((t) => t.dtype === 'float32');
}

/** A zeroed KV cache [B,K,S,D] for `webgpuAttentionCached` (a buffer of its own, written in place; filled on the GPU). */
export function webgpuKvCache(shape: [number, number, number, number]): tf.Tensor4D {
  return tf.fill(shape, 0, 'float32') as tf.Tensor4D;
}

/**
 * Sampling (no gradient): writes the new positions' k, v [B,K,T,D] into the caches kc, vc [B,K,S,D]
 * (from `webgpuKvCache`) at past…past+T−1 in place, and returns the attention of q [B,H,T,D] over
 * the first past + T cached positions (bias [1|B,1,T,past+T]) — the numbers of `webgpuAttention`
 * over the concatenated keys, without copying the cache each step. Throws when a cache shares its
 * buffer with another tensor (an in-place write would change that one too) or does not fit.
 */
export function webgpuAttentionCached(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, kc: tf.Tensor4D, vc: tf.Tensor4D, past: number, bias: tf.Tensor, scale: number): tf.Tensor4D {
  const b = tf.backend() as unknown as GpuBackend;
  const [B, K, S, D] = kc.shape;
  const T = q.shape[2];
  const owned = [kc, vc].every((t) => b.tensorMap.get(t.dataId)?.refCount === 1) && kc.dataId !== vc.dataId;
  const fits = vc.shape.join() === kc.shape.join() && k.shape.join() === [B, K, T, D].join() && v.shape.join() === k.shape.join() && past + T <= S;
  const [Bq, H, , Dq] = q.shape;
  const heads = Bq === B && Dq === D && H % K === 0 && D <= 256;
  const masks = bias.rank === 4 && (bias.shape[0] === 1 || bias.shape[0] === B) && bias.shape[1] === 1 && bias.shape[2] === T && bias.shape[3] === past + T;
  const f32 = [q, k, v, kc, vc, bias].every((t) => t.dtype === 'float32');
  if (!owned || !fits || !heads || !masks || !f32) {
    throw new Error(`webgpuAttentionCached: caches ${kc.shape} (own buffers: ${owned}) do not take k ${k.shape} at ${past}, q ${q.shape}, bias ${bias.shape}`);
  }
  return tf.engine().runKernel('WebGPUAttentionCached', { q, k, v, kc, vc, bias }, { scale, past } as never) as tf.Tensor4D;
}

/**
 * softmax(scale·q·kᵀ + bias)·v on the webgpu backend, differentiable in q, k and v (see the top of
 * this file); only where `webgpuAttentionFits`.
 */
export function webgpuAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, scale: number): tf.Tensor4D {
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs, { scale } as never) as tf.Tensor[];
  const f = tf.customGrad(((qq: tf.Tensor4D, kk: tf.Tensor4D, vv: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const [o, lse] = run('WebGPUAttention', { q: qq, k: kk, v: vv, bias });
    save([qq, kk, vv, bias, o, lse]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor4D, s: tf.Tensor[]) => run('WebGPUAttentionGrad', { q: s[0], k: s[1], v: s[2], bias: s[3], o: s[4], lse: s[5], dy }),
    };
  }) as never) as (qq: tf.Tensor4D, kk: tf.Tensor4D, vv: tf.Tensor4D) => tf.Tensor4D;
  return f(q, k, v);
}
