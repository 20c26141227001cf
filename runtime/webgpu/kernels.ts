// Fixes to tfjs-backend-webgpu 4.22's kernels, registered over its own under the `webgpu` backend.
//
// AddN: tfjs writes one shader reading every input (one storage buffer each), so an AddN of more
// inputs than the device's `maxStorageBuffersPerShaderStage` − 1 (the WebGPU default is 8, and
// lavapipe's own limit is 16) fails pipeline validation ("The number of storage buffers (29) in the
// Compute stage exceeds the maximum per-stage limit (8)") and silently yields garbage — the global
// gradient norm sums one square per parameter tensor. Here inputs are added in groups that fit, then
// the group sums (a tree of AddNs), on any GPU, whatever its limit.

import * as tf from '@tensorflow/tfjs';

interface WebGPUBackendLike {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: object): void;
}

let patched = false;

/** Register the fixed kernels (once; call after tfjs-backend-webgpu is imported). */
export function patchWebGPUKernels(): void {
  if (patched) return;
  const orig = tf.getKernel('AddN', 'webgpu');
  if (!orig) throw new Error('tfjs-backend-webgpu registered no AddN kernel');
  const addN = orig.kernelFunc;
  const chunked: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const max = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    let inputs = args.inputs as unknown as tf.TensorInfo[];
    const temps: tf.TensorInfo[] = [];
    while (inputs.length > max) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < inputs.length; i += max) {
        const group = inputs.slice(i, i + max);
        if (group.length === 1) next.push(group[0]);
        else {
          const s = addN({ ...args, inputs: group as never }) as tf.TensorInfo;
          temps.push(s);
          next.push(s);
        }
      }
      inputs = next;
    }
    const out = addN({ ...args, inputs: inputs as never }) as tf.TensorInfo;
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ kernelName: 'AddN', backendName: 'webgpu', kernelFunc: chunked });
  patched = true;
}
