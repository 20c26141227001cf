// The AdamW update as one WGSL kernel per weight on the webgpu backend, written in place: the weight,
// its two moments (read-write) and its gradient (read) in one pass — where tfjs composes ~12 kernels,
// each a pass over the weight, and three new buffers. It is the native backend's fused `adamW`
// (runtime/native) for the GPU, and computes the same expressions in the same order as the composite
// update of runtime/optim.ts (so the two agree to rounding):
//   m ← β₁·m + (1−β₁)·g,  v ← β₂·v + (1−β₂)·g²,  p ← p·decay − (m / (√v / √bc₂ + ε))·stepSize
// Dispatched through ./dispatch.ts (into tfjs's own command encoder). Refused (false: the caller composes the
// update) when a buffer is shared with another tensor (an in-place write would change that one too),
// when two of the four are the same buffer, or for a dtype other than float32.

import * as tf from '@tensorflow/tfjs';
import { dispatch, type GpuBackend } from './dispatch.ts';

export interface AdamWScalars {
  beta1: number;
  beta2: number;
  stepSize: number;
  bc2sqrt: number;
  eps: number;
  decay: number;
}

const SHADER = /* wgsl */ `
struct U { a: vec4<f32>, b: vec4<f32>, };
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
// u.a = (β₁, 1−β₁, β₂, 1−β₂); u.b = (stepSize, √bc₂, ε, decay)
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= arrayLength(&g)) { return; }
  let gi = g[i];
  let mi = m[i] * u.a.x + gi * u.a.y;
  let vi = v[i] * u.a.z + (gi * gi) * u.a.w;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / u.b.y + u.b.z;
  p[i] = p[i] * u.b.w - (mi / denom) * u.b.x;
}`;

/** Counts dispatches of this kernel (for tests and profiles). */
export const adamWStats = { dispatches: 0, refused: 0 };

/** One in-place AdamW update of `p` (with `m`, `v`) by `g` on the webgpu backend; false when refused. */
export function adamWInPlace(p: tf.Variable, m: tf.Variable, v: tf.Variable, g: tf.Tensor, o: AdamWScalars): boolean {
  const b = tf.backend() as unknown as GpuBackend;
  if (tf.getBackend() !== 'webgpu' || b.activeTimers != null) return refuse(); // tf.profile/tf.time: the composite ops are timed instead
  const ids = [p.dataId, m.dataId, v.dataId, g.dataId];
  if (new Set(ids).size !== 4) return refuse();
  const data = ids.map((id) => b.tensorMap.get(id));
  if (data.some((d) => !d || d.dtype !== 'float32')) return refuse();
  if (data.slice(0, 3).some((d) => d!.refCount !== 1)) return refuse();
  const n = p.size;
  if (m.size !== n || v.size !== n || g.size !== n || n === 0) return refuse();
  for (const id of ids) b.uploadToGPU(id);
  const buffers = ids.map((id) => b.tensorMap.get(id)!.resource);
  if (new Set(buffers).size !== 4) return refuse();
  const uniforms = [
    [o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2],
    [o.stepSize, o.bc2sqrt, o.eps, o.decay],
  ];
  dispatch(b, SHADER, [p, m, v, g], uniforms, Math.ceil(n / 256), [p, m, v], 'AdamW');
  adamWStats.dispatches++;
  return true;
}

function refuse(): false {
  adamWStats.refused++;
  return false;
}
