// The WebGPU backend: Dawn (the npm package `webgpu`, Chrome's WebGPU engine as a Node addon, on
// Vulkan, Metal or D3D12) under TensorFlow.js's own WebGPU backend (@tensorflow/tfjs-backend-webgpu).
//
// tfjs-backend-webgpu registers itself only when `navigator.gpu` exists when it is imported; Node has
// no `navigator.gpu`, so this file creates Dawn's GPU object, gives tfjs the globals it reads
// (`navigator.gpu`, `GPUBufferUsage`, …) and registers the backend itself with a device it asked
// for: the adapter's limits for the few that tfjs needs raised (the same list tfjs asks for), and the
// WebGPU defaults for the rest — 8 storage buffers per shader stage, which every driver accepts. tfjs
// splits Concat by this limit but not AddN: ./kernels.ts registers an AddN that does (the invalid
// BindGroupLayout seen on lavapipe, and on any GPU for an AddN of more than 7 tensors).
//
// On this backend a synchronous read (`dataSync`) needs an OffscreenCanvas, which Node does not have:
// rlhfc reads tensors with `await t.data()` (runtime/model/decode.ts, runtime/optim.ts, the stages).

import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { patchWebGPUKernels } from './kernels.ts';
import { registerLogProbKernels } from './logprob.ts';
import { registerAttentionKernels } from './attention.ts';
import { registerNormKernels } from './norm.ts';

/** What Dawn says about the adapter. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software adapter (llvmpipe/lavapipe, SwiftShader, WARP): for correctness, not speed. */
  software: boolean;
}

/** How to get a driver Dawn can use, per platform (shown in errors and the README). */
export const DRIVER_HELP = [
  'Linux: the GPU vendor\'s Vulkan driver (NVIDIA: the proprietary driver with its Vulkan ICD and the GL loader libraries libglvnd0 libglx0 libegl1 libgl1; AMD/Intel: mesa-vulkan-drivers); without a GPU, Mesa ≥ 24 lavapipe (Debian bookworm: `apt-get install -t bookworm-backports mesa-vulkan-drivers`)',
  'macOS: Metal is built in; Windows: D3D12 is built in (a current GPU driver)',
];

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic render/i;

export function isSoftware(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' '));
}

export function describe(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): AdapterDescription {
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software: isSoftware(info),
  };
}

/** One line naming the adapter, e.g. "nvidia hopper (NVIDIA H200), Vulkan" or "... — a software adapter". */
export function adapterLine(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ');
  const detail = [a.device, a.description].filter((s) => s && s !== '0x0').join(', ');
  return `${name || 'unknown adapter'}${detail ? ` (${detail})` : ''}${a.software ? ' — a software adapter: for correctness, not speed' : ''}`;
}

type Gpu = { requestAdapter(o?: { powerPreference?: string }): Promise<GpuAdapter | null> };
type GpuAdapter = {
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(d: unknown): Promise<unknown>;
};

let dawn: { gpu: Gpu } | undefined;

/** Load Dawn once; the reason as text when the package or its prebuilt addon cannot be loaded. */
async function loadDawn(): Promise<{ gpu?: Gpu; reason?: string }> {
  if (dawn) return { gpu: dawn.gpu };
  let mod: { create(flags: string[]): unknown; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as never;
  } catch (e) {
    return { reason: `Dawn's Node.js bindings (the npm package \`webgpu\`) could not be loaded: ${(e as Error).message.split('\n')[0]}` };
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = mod.create([]) as Gpu;
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && !nav.gpu) {
    try {
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    } catch {
      Object.defineProperty(globalThis, 'navigator', { value: { ...nav, gpu }, configurable: true, writable: true });
    }
  } else if (!nav) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  dawn = { gpu };
  return { gpu };
}

let registered: AdapterDescription | undefined;

/**
 * Load Dawn, find an adapter and register tfjs's `webgpu` backend on a device of it. Returns the
 * adapter, or the reason (with how to fix it) when there is none. Does not select the backend.
 */
export async function registerWebGPU(): Promise<{ adapter?: AdapterDescription; reason?: string }> {
  if (registered && tf.findBackendFactory('webgpu')) return { adapter: registered };
  const d = await loadDawn();
  if (!d.gpu) return { reason: d.reason };
  let adapter: GpuAdapter | null = null;
  try {
    adapter = await d.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { reason: `Dawn found no GPU adapter: ${(e as Error).message}` };
  }
  if (!adapter) return { reason: 'Dawn found no GPU adapter (no Vulkan, Metal or D3D12 driver it can use)' };
  const lim = adapter.limits;
  const want = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  const requiredLimits = Object.fromEntries(want.map((k) => [k, lim[k]]));
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  let device: unknown;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    return { reason: `the GPU adapter refused a device: ${(e as Error).message}` };
  }
  const info = adapter.info;
  const plain = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, isFallbackAdapter: info.isFallbackAdapter };
  // Imported only now: the package reads `navigator.gpu` when it loads (and registers a backend of its
  // own when it finds one); ours replaces it so that the device is the one asked for above.
  const wg = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as { WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend };
  patchWebGPUKernels();
  registerLogProbKernels();
  registerAttentionKernels();
  registerNormKernels();
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new wg.WebGPUBackend(device, plain), 0);
  registered = describe(plain);
  return { adapter: registered };
}

let probed: AdapterDescription | null | undefined;

/**
 * Whether a WebGPU adapter exists, asked in a child process: Dawn prints driver warnings on the
 * process's own stdout (lavapipe's, for instance) and a broken driver can take the process down, so
 * `auto` asks once per process from outside. Undefined when there is none (or Dawn is missing).
 */
export function probeAdapter(): AdapterDescription | undefined {
  if (probed !== undefined) return probed ?? undefined;
  const script = fileURLToPath(new URL('./probe.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{"adapter"'));
  probed = null;
  if (r.status === 0 && line) {
    const a = (JSON.parse(line) as { adapter: AdapterDescription | null }).adapter;
    if (a) probed = describe(a);
  }
  return probed ?? undefined;
}
