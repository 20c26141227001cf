// Tensor backend selection. `auto` prefers WebGPU when a hardware GPU adapter exists (runtime/webgpu:
// Dawn under tfjs-backend-webgpu; never a software adapter such as lavapipe or SwiftShader), then the native addon (runtime/native: C++ kernels, our own GEMM or OpenBLAS, on
// the cpu backend's TypedArrays; built by `npm install` when g++ and make are there), then
// TensorFlow (tfjs-node-gpu, then tfjs-node; both optional and not installed by default), then
// WebAssembly (XNNPACK, SIMD), then plain JS (cpu).

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UserError, diag } from '../core/diagnostics.ts';
import type { AdapterDescription } from './webgpu/setup.ts';

export type BackendName = 'auto' | 'webgpu' | 'native' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The backend actually in use: webgpu, native, tensorflow, wasm or cpu. */
  name: string;
  /** On webgpu: the adapter (vendor, architecture, device, description; software or not). */
  adapter?: AdapterDescription;
  threads: number;
  simd: boolean;
  /** One line for the console, e.g. "backend: wasm (SIMD, 1 thread)". */
  banner: string;
}

export const BACKEND_NAMES: readonly string[] = ['auto', 'webgpu', 'native', 'tensorflow', 'wasm', 'cpu'];
const NAMES = BACKEND_NAMES;

let warnedNative = false;

/** Register and select the native backend; undefined + reason when the addon is not built/loadable. */
async function tryNative(): Promise<{ detail?: string; threads?: number; reason?: string }> {
  const { registerNative, nativeInfo } = await import('./native/backend.ts');
  const r = registerNative();
  if (!r.ok) return { reason: r.reason };
  try {
    if (!(await tf.setBackend('native'))) return { reason: 'the native backend failed to initialise' };
  } catch (e) {
    return { reason: `the native backend failed to initialise: ${(e as Error).message}` };
  }
  const i = nativeInfo()!;
  const threads = i.blasThreads === 1 ? '1 thread' : `1–${i.blasThreads} threads`;
  const gemm = i.gemm === 'openblas' ? `OpenBLAS ${i.blasCore}` : 'own GEMM';
  return { detail: `${i.simd.replace('k_', '')} kernels, ${gemm}, ${threads}`, threads: i.blasThreads };
}

async function tryTensorflow(): Promise<string | undefined> {
  // Module names held in variables so TypeScript does not require the optional packages.
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg;
    } catch {
      // not installed or failed to load its native library: try the next one
    }
  }
  return undefined;
}

async function trySet(name: 'wasm' | 'cpu'): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Select and initialise a backend. `tensorflow` fails with a clear message when neither
 * @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed; `auto` falls through to wasm, then cpu.
 */
export async function initBackend(name: string = process.env.RLHFC_BACKEND ?? 'auto'): Promise<BackendInfo> {
  if (!NAMES.includes(name)) {
    throw new UserError([diag('RLHF9001', `unknown backend '${name}'; choose one of ${NAMES.join(', ')}`)]);
  }
  let detail = '';
  let ok = false;
  let nativeThreads = 1;
  let adapter: AdapterDescription | undefined;
  if (name === 'webgpu' || name === 'auto') {
    const w = await import('./webgpu/setup.ts');
    // auto: only a hardware adapter (asked in a child process first, so that a CPU-only machine pays
    // one probe and no Dawn in this process); webgpu: any adapter, a software one included.
    const wanted = name === 'webgpu' || w.probeAdapter()?.software === false;
    if (wanted) {
      const r = await w.registerWebGPU();
      if (r.adapter) {
        try {
          ok = await tf.setBackend('webgpu');
        } catch (e) {
          r.reason = `tfjs-backend-webgpu failed to initialise: ${(e as Error).message}`;
        }
        if (ok) {
          adapter = r.adapter;
          detail = w.adapterLine(r.adapter);
        }
      }
      if (!ok && name === 'webgpu') {
        throw new UserError([
          diag('RLHF9001', `backend 'webgpu' is not available: ${r.reason ?? 'the backend failed to initialise'}`, undefined, {
            notes: [...w.DRIVER_HELP.map((h) => `get a driver — ${h}`), 'or use --backend native (CPU)'],
          }),
        ]);
      }
    }
  }
  if (!ok && (name === 'native' || name === 'auto')) {
    const { BUILD_COMMAND } = await import('./native/addon.ts');
    const n = await tryNative();
    if (n.detail) {
      ok = true;
      detail = n.detail;
      nativeThreads = n.threads ?? 1;
    } else if (name === 'native') {
      throw new UserError([diag('RLHF9001', `backend 'native' is not available: ${n.reason}`, undefined, { notes: [`build it with \`${BUILD_COMMAND}\`, or use --backend wasm`] })]);
    } else if (!warnedNative) {
      warnedNative = true;
      console.warn(`warning: native backend unavailable (${n.reason}); falling back to a slower backend (wasm). For full speed run: ${BUILD_COMMAND}`);
    }
  }
  if (!ok && (name === 'tensorflow' || name === 'auto')) {
    const pkg = await tryTensorflow();
    if (pkg) {
      ok = true;
      detail = pkg;
    } else if (name === 'tensorflow') {
      throw new UserError([
        diag('RLHF9001', "backend 'tensorflow' needs @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu), which is not installed", undefined, {
          notes: ['install it with `npm install @tensorflow/tfjs-node@4.22.0`, or use --backend wasm'],
        }),
      ]);
    }
  }
  if (!ok && (name === 'wasm' || name === 'auto')) {
    ok = await trySet('wasm');
    if (!ok && name === 'wasm') throw new UserError([diag('RLHF9001', "backend 'wasm' failed to initialise (is @tensorflow/tfjs-backend-wasm installed?)")]);
  }
  if (!ok) ok = await trySet('cpu');
  if (!ok) throw new Error('no TensorFlow.js backend could be initialised');
  await tf.ready();
  const used = tf.getBackend();
  const simd = used === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : used === 'tensorflow' || used === 'native';
  const threads = used === 'wasm' ? await wasmThreads() : used === 'native' ? nativeThreads : 1;
  const parts = [used === 'wasm' ? (simd ? 'SIMD' : 'no SIMD') : '', used === 'native' || used === 'webgpu' ? '' : `${threads} thread${threads === 1 ? '' : 's'}`, detail].filter(Boolean);
  return { name: used, threads, simd, adapter: used === 'webgpu' ? adapter : undefined, banner: `backend: ${used} (${parts.join(', ')})` };
}

/**
 * Whether tensors live on a device (webgpu): there a read waits for the queued work and has no
 * synchronous form in Node, so reads are asynchronous and made after a step's work is queued.
 */
export function onDevice(): boolean {
  return tf.getBackend() === 'webgpu';
}

/**
 * Read scalar tensors (kept out of a tidy by the caller) as numbers, and free them: one asynchronous
 * read for all, made after the step's work is queued.
 */
export async function readScalars<K extends string>(ts: Record<K, tf.Tensor>): Promise<Record<K, number>> {
  const keys = Object.keys(ts) as K[];
  try {
    const vals = await Promise.all(keys.map((k) => ts[k].data()));
    return Object.fromEntries(keys.map((k, i) => [k, vals[i][0]])) as Record<K, number>;
  } finally {
    tf.dispose(keys.map((k) => ts[k]));
  }
}

async function wasmThreads(): Promise<number> {
  try {
    const w = await import('@tensorflow/tfjs-backend-wasm');
    return w.getThreadsCount();
  } catch {
    return 1;
  }
}
