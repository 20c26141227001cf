// Running our own WGSL compute shaders on tfjs-backend-webgpu's device and queue: the pipeline is
// compiled once per device, and each dispatch is recorded into tfjs's own command encoder and compute
// pass (ordered with the kernels around it, batched into the same submits); the buffers it touches are
// marked as used by the queue, so that tfjs does not recycle them before it runs. Under tf.profile /
// tf.time each dispatch gets a compute pass of its own with timestamp writes, as tfjs times its own
// programs, so that the profile's kernel times include ours.

import * as tf from '@tensorflow/tfjs';

export interface TensorData {
  dtype: string;
  shape: number[];
  refCount: number;
  resource?: unknown;
  values?: unknown;
}
export interface ComputePass {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}
/** The parts of tfjs-backend-webgpu 4.22's WebGPUBackend used here. */
export interface GpuBackend {
  device: {
    createShaderModule(d: { code: string }): unknown;
    createComputePipeline(d: unknown): Pipeline;
    createBindGroup(d: unknown): unknown;
    createQuerySet(d: unknown): unknown;
  };
  tensorMap: { get(id: object): TensorData | undefined };
  uploadToGPU(id: object): void;
  makeTensorInfo(shape: number[], dtype: string): tf.TensorInfo;
  makeUniforms(u: { type: string; data: number[] }[]): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: { beginComputePass(d: unknown): ComputePass };
  computePassEncoder: ComputePass | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  activeTimers?: { name: string; query: Promise<number> }[] | null;
  supportTimestampQuery: boolean;
  querySet: unknown;
  querySetCount: number;
  getQueryTime(): Promise<number>;
}
type Pipeline = { getBindGroupLayout(i: number): unknown };

/** Dispatches of our own shaders (for profiles: tfjs's own go through its recordAndSubmit). */
export const dispatchStats = { count: 0 };

const pipelines = new WeakMap<object, Map<string, Pipeline>>();

function pipelineFor(b: GpuBackend, code: string): Pipeline {
  let byCode = pipelines.get(b.device);
  if (!byCode) pipelines.set(b.device, (byCode = new Map()));
  let p = byCode.get(code);
  if (!p) {
    p = b.device.createComputePipeline({ layout: 'auto', compute: { module: b.device.createShaderModule({ code }), entryPoint: 'main' } });
    byCode.set(code, p);
  }
  return p;
}

/**
 * Dispatch `code` (entry point `main`) with the tensors' buffers at bindings 0.. (each bound to its
 * exact byte size) and the float32 vec4 uniforms after them; `groups` workgroups, spread over x and y
 * (x at most 65,535) — the shader finds its index as `gid.x + gid.y * nw.x * workgroupSize`. Tensors in
 * `written` lose any copy tfjs cached on the CPU.
 */
export function dispatch(b: GpuBackend, code: string, tensors: tf.TensorInfo[], uniforms: number[][], groups: number, written: tf.TensorInfo[], label = 'WGSL'): void {
  for (const t of tensors) b.uploadToGPU(t.dataId);
  const entries: { binding: number; resource: unknown }[] = tensors.map((t, i) => ({
    binding: i,
    resource: { buffer: b.tensorMap.get(t.dataId)!.resource, offset: 0, size: Math.max(4, tf.util.sizeFromShape(t.shape) * 4) },
  }));
  if (uniforms.length) entries.push({ binding: tensors.length, resource: b.makeUniforms(uniforms.map((data) => ({ type: 'float32', data }))) });
  const pipeline = pipelineFor(b, code);
  const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  const timed = b.activeTimers != null;
  b.ensureCommandEncoderReady();
  if (timed && b.supportTimestampQuery) {
    b.endComputePassEncoder();
    if (b.querySet == null) b.querySet = b.device.createQuerySet({ type: 'timestamp', count: b.querySetCount });
    b.computePassEncoder = b.commandEncoder.beginComputePass({ timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  } else if (!b.computePassEncoder) b.computePassEncoder = b.commandEncoder.beginComputePass({});
  const x = Math.min(Math.max(groups, 1), 65535);
  b.computePassEncoder.setPipeline(pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(x, Math.ceil(Math.max(groups, 1) / x), 1);
  b.dispatchCountInPass++;
  dispatchStats.count++;
  for (const t of written) b.tensorMap.get(t.dataId)!.values = null;
  if (timed) {
    b.endComputePassEncoder();
    b.activeTimers!.push({ name: label, query: b.getQueryTime() }); // 0 without timestamp queries, as tfjs's
  } else if ((tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
}
