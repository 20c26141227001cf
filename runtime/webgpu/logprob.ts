// log-softmax at the targets as two WGSL kernels on the webgpu backend (the native backend's
// NativeLogSoftmaxPick for the GPU): forward, one workgroup per row reads the logits once for the
// maximum and once for the sum of exponentials, and writes logp[row] = x[row, t] − lse[row] and lse;
// backward, dx = dy·(onehot(t) − exp(x − lse)) element by element. tfjs composes this from ~8 kernels
// and a [rows, vocabulary] log-softmax and one-hot in memory. A target outside [0, V) picks 0 and
// passes no gradient, as the composite pick (a one-hot multiply) does.

import * as tf from '@tensorflow/tfjs';
import { dispatch, type GpuBackend } from './dispatch.ts';
import { logProbByKernels } from '../kernel-logprob.ts';

const FORWARD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * nw.x;
  let rows = arrayLength(&t);
  if (row >= rows) { return; }
  let V = arrayLength(&x) / rows;
  let base = row * V;
  var m = -3.4028234663852886e38;
  for (var j = lid.x; j < V; j += 256u) { m = max(m, x[base + j]); }
  red[lid.x] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = max(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var j = lid.x; j < V; j += 256u) { acc += exp(x[base + j] - mx); }
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = red[lid.x] + red[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let l = mx + log(red[0]);
    lse[row] = l;
    let ti = t[row];
    if (ti >= 0 && u32(ti) < V) { y[row] = x[base + u32(ti)] - l; } else { y[row] = 0.0; }
  }
}`;

const BACKWARD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  let n = arrayLength(&x);
  if (i >= n) { return; }
  let rows = arrayLength(&t);
  let V = n / rows;
  let row = i / V;
  let ti = t[row];
  if (ti < 0 || u32(ti) >= V) { dx[i] = 0.0; return; }
  let hit = select(0.0, 1.0, u32(ti) == i % V);
  dx[i] = dy[row] * (hit - exp(x[i] - lse[row]));
}`;

let registered = false;

/** Register the two kernels under the webgpu backend (once; after tfjs-backend-webgpu is imported). */
export function registerLogProbKernels(): void {
  if (registered) return;
  tf.registerKernel({
    kernelName: 'WebGPULogSoftmaxPick',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as GpuBackend;
      const x = inputs['x'] as tf.TensorInfo;
      const t = inputs['targets'] as tf.TensorInfo;
      const rows = tf.util.sizeFromShape(t.shape);
      const y = b.makeTensorInfo([...t.shape], 'float32');
      const lse = b.makeTensorInfo([rows], 'float32');
      dispatch(b, FORWARD, [x, t, y, lse], [], rows, [y, lse], 'LogSoftmaxPick');
      return [y, lse];
    },
  });
  tf.registerKernel({
    kernelName: 'WebGPULogSoftmaxPickGrad',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as GpuBackend;
      const x = inputs['x'] as tf.TensorInfo;
      const dx = b.makeTensorInfo([...x.shape], 'float32');
      const n = tf.util.sizeFromShape(x.shape);
      dispatch(b, BACKWARD, [x, inputs['targets'] as tf.TensorInfo, inputs['lse'] as tf.TensorInfo, inputs['dy'] as tf.TensorInfo, dx], [], Math.ceil(n / 256), [dx], 'LogSoftmaxPickGrad');
      return dx;
    },
  });
  registered = true;
}

/** logits [..., V] at integer targets [...] → log-probabilities [...], on the webgpu backend. */
export const webgpuLogProbOf = logProbByKernels('WebGPULogSoftmaxPick', 'WebGPULogSoftmaxPickGrad');
