// LayerNorm (GPT-2) and RMSNorm (Llama family) over the last axis as WGSL kernels on the webgpu
// backend, where tfjs composes ~8 kernels forward and ~20 backward, each a pass over x.
// Forward, one workgroup per row: LayerNorm y = (x − μ)·r·w + β with μ the mean and r = 1/√(var + ε)
// (biased variance, two passes over the row, like PyTorch and the composite in runtime/model/ops.ts);
// RMSNorm y = x·r·w with r = 1/√(mean(x²) + ε) (transformers' LlamaRMSNorm). μ and r are kept per row.
// Backward, two dispatches: dx, one workgroup per row, with x̂ = (x − μ)·r (RMS: x·r) and g = dy·w:
//   LayerNorm dx = r·(g − mean(g) − x̂·mean(g·x̂)),  RMSNorm dx = r·(g − x̂·mean(g·x̂));
// dw = Σ_rows dy·x̂ and dβ = Σ_rows dy, one workgroup per 32 columns (8 lanes of rows each).

import * as tf from '@tensorflow/tfjs';
import { dispatch, type GpuBackend } from './dispatch.ts';

// The frame of the per-row kernels (forward, dx): a sum over the 256 invocations of a workgroup, and
// main() over one row — C columns from `base`, n = C as a float.
const PER_ROW = /* wgsl */ `var<workgroup> red: array<f32, 256>;
fn reduce(v: f32, i: u32) -> f32 {
  red[i] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (i < s) { red[i] = red[i] + red[i + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = u32(u.a.x);
  let rows = u32(u.a.z);
  let row = wid.x + wid.y * nw.x;
  if (row >= rows) { return; }
  let base = row * C;
  let n = f32(C);`;

// u.a = (C, ε, rows, 0); stats = [μ (rows), r (rows)] (μ = 0 for RMSNorm)
const forward = (rms: boolean) => /* wgsl */ `
struct U { a: vec4<f32>, };
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
${rms ? '' : '@group(0) @binding(4) var<storage, read> beta: array<f32>;'}
@group(0) @binding(${rms ? 4 : 5}) var<uniform> u: U;
${PER_ROW}
  ${
    rms
      ? `var a = 0.0;
  for (var j = lid.x; j < C; j += 256u) { let xi = x[base + j]; a += xi * xi; }
  let mu = 0.0;
  let r = inverseSqrt(reduce(a, lid.x) / n + u.a.y);
  for (var j = lid.x; j < C; j += 256u) { y[base + j] = (x[base + j] * r) * w[j]; }`
      : `var a = 0.0;
  for (var j = lid.x; j < C; j += 256u) { a += x[base + j]; }
  let mu = reduce(a, lid.x) / n;
  var c2 = 0.0;
  for (var j = lid.x; j < C; j += 256u) { let c = x[base + j] - mu; c2 += c * c; }
  let r = inverseSqrt(reduce(c2, lid.x) / n + u.a.y);
  for (var j = lid.x; j < C; j += 256u) { y[base + j] = ((x[base + j] - mu) * r) * w[j] + beta[j]; }`
  }
  if (lid.x == 0u) { stats[row] = mu; stats[rows + row] = r; }
}`;

const backwardX = (rms: boolean) => /* wgsl */ `
struct U { a: vec4<f32>, };
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${PER_ROW}
  let mu = stats[row];
  let r = stats[rows + row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lid.x; j < C; j += 256u) {
    let g = dy[base + j] * w[j];
    sg += g;
    sgx += g * ((x[base + j] - mu) * r);
  }
  let mg = ${rms ? '0.0' : 'reduce(sg, lid.x) / n'};
  let mgx = reduce(sgx, lid.x) / n;
  for (var j = lid.x; j < C; j += 256u) {
    let g = dy[base + j] * w[j];
    dx[base + j] = r * (g - mg - ((x[base + j] - mu) * r) * mgx);
  }
}`;

// one workgroup per 32 columns: 8 lanes of rows per column (row r in lane r mod 8), summed in
// workgroup memory; reads along a row stay coalesced (32 adjacent columns)
const backwardW = (rms: boolean) => /* wgsl */ `
struct U { a: vec4<f32>, };
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
${rms ? '' : '@group(0) @binding(4) var<storage, read_write> db: array<f32>;'}
@group(0) @binding(${rms ? 4 : 5}) var<uniform> u: U;
var<workgroup> rw: array<f32, 256>;
var<workgroup> rb: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = u32(u.a.x);
  let rows = u32(u.a.z);
  let col = lid.x % 32u;
  let lane = lid.x / 32u;
  let j = (wid.x + wid.y * nw.x) * 32u + col;
  var aw = 0.0;
  var ab = 0.0;
  if (j < C) {
    for (var row = lane; row < rows; row += 8u) {
      let g = dy[row * C + j];
      aw += g * ((x[row * C + j] - stats[row]) * stats[rows + row]);
      ab += g;
    }
  }
  rw[lid.x] = aw;
  rb[lid.x] = ab;
  workgroupBarrier();
  for (var s = 4u; s > 0u; s >>= 1u) {
    if (lane < s) { rw[lid.x] = rw[lid.x] + rw[lid.x + 32u * s]; rb[lid.x] = rb[lid.x] + rb[lid.x + 32u * s]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < C) {
    dw[j] = rw[lid.x];
    ${rms ? '' : 'db[j] = rb[lid.x];'}
  }
}`;

const SHADERS = {
  ln: { forward: forward(false), dx: backwardX(false), dw: backwardW(false) },
  rms: { forward: forward(true), dx: backwardX(true), dw: backwardW(true) },
};

let registered = false;

/** Register the norm kernels under the webgpu backend (once; after tfjs-backend-webgpu is imported). */
export function registerNormKernels(): void {
  if (registered) return;
  tf.registerKernel({
    kernelName: 'WebGPUNorm',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as GpuBackend;
      const { x, w, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
      const { eps } = attrs as { eps: number };
      const C = x!.shape[x!.shape.length - 1];
      const rows = tf.util.sizeFromShape(x!.shape) / C;
      const y = b.makeTensorInfo([...x!.shape], 'float32');
      const stats = b.makeTensorInfo([2 * rows], 'float32');
      const s = beta ? SHADERS.ln : SHADERS.rms;
      const tensors = [x!, w!, y, stats];
      dispatch(b, s.forward, beta ? [...tensors, beta] : tensors, [[C, eps, rows, 0]], rows, [y, stats], 'NormForward');
      return [y, stats];
    },
  });
  tf.registerKernel({
    kernelName: 'WebGPUNormGrad',
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as GpuBackend;
      const { x, w, stats, dy } = inputs as Record<string, tf.TensorInfo>;
      const { layer } = attrs as { layer: boolean };
      const C = x.shape[x.shape.length - 1];
      const rows = tf.util.sizeFromShape(x.shape) / C;
      const s = layer ? SHADERS.ln : SHADERS.rms;
      const u = [[C, 0, rows, 0]];
      const dx = b.makeTensorInfo([...x.shape], 'float32');
      const dw = b.makeTensorInfo([C], 'float32');
      dispatch(b, s.dx, [x, w, dy, stats, dx], u, rows, [dx], 'NormDx');
      if (!layer) {
        dispatch(b, s.dw, [x, dy, stats, dw], u, Math.ceil(C / 32), [dw], 'NormDw');
        return [dx, dw];
      }
      const db = b.makeTensorInfo([C], 'float32');
      dispatch(b, s.dw, [x, dy, stats, dw, db], u, Math.ceil(C / 32), [dw, db], 'NormDwDb');
      return [dx, dw, db];
    },
  });
  registered = true;
}

function norm(x: tf.Tensor, w: tf.Tensor1D, beta: tf.Tensor1D | undefined, eps: number): tf.Tensor {
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as never) as tf.Tensor[];
  const grad = (dy: tf.Tensor, s: tf.Tensor[]) => run('WebGPUNormGrad', { x: s[0], w: s[1], stats: s[2], dy }, { layer: beta !== undefined });
  if (beta) {
    const f = tf.customGrad(((xx: tf.Tensor, ww: tf.Tensor1D, bb: tf.Tensor1D, save: tf.GradSaveFunc) => {
      const [y, stats] = run('WebGPUNorm', { x: xx, w: ww, beta: bb }, { eps });
      save([xx, ww, stats]);
      return { value: y, gradFunc: grad };
    }) as never) as (xx: tf.Tensor, ww: tf.Tensor1D, bb: tf.Tensor1D) => tf.Tensor;
    return f(x, w, beta);
  }
  const f = tf.customGrad(((xx: tf.Tensor, ww: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const [y, stats] = run('WebGPUNorm', { x: xx, w: ww }, { eps });
    save([xx, ww, stats]);
    return { value: y, gradFunc: grad };
  }) as never) as (xx: tf.Tensor, ww: tf.Tensor1D) => tf.Tensor;
  return f(x, w);
}

/** Whether the kernels take x [..., C] with a weight (and bias) [C], float32. */
export function webgpuNormFits(x: tf.Tensor, w: tf.Tensor, beta?: tf.Tensor): boolean {
  const C = x.shape[x.shape.length - 1];
  if (x.rank < 1 || x.size === 0 || w.rank !== 1 || w.shape[0] !== C) return false;
  if (beta && (beta.rank !== 1 || beta.shape[0] !== C)) return false;
  return [x, w, ...(beta ? [beta] : [])].every((t) => t.dtype === 'float32');
}

/** LayerNorm over the last axis on the webgpu backend (biased variance, like PyTorch); differentiable in x, w and β. */
export function webgpuLayerNorm(x: tf.Tensor, w: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  return norm(x, w, beta, eps);
}

/** RMSNorm over the last axis on the webgpu backend: x / √(mean(x²) + ε) · w; differentiable in x and w. */
export function webgpuRmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number): tf.Tensor {
  return norm(x, w, undefined, eps);
}
