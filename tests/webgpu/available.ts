// Shared by tests/webgpu/*.test.ts: is there a WebGPU adapter (Dawn on a Vulkan/Metal/D3D12 driver;
// Mesa's lavapipe in CI)? Without one the suites are skipped with one line, unless
// RLHFC_REQUIRE_WEBGPU=1 (CI), where they fail.
import { probeAdapter, type AdapterDescription } from '../../runtime/webgpu/setup.ts';

export const adapter: AdapterDescription | undefined = probeAdapter();
export const required = process.env.RLHFC_REQUIRE_WEBGPU === '1';
export const runWebGPU = adapter !== undefined || required;

export function skipLine(suite: string): void {
  if (!runWebGPU) {
    console.log(`${suite}: SKIPPED — no WebGPU adapter (Dawn found no Vulkan/Metal/D3D12 driver; without a GPU: apt-get install -t bookworm-backports mesa-vulkan-drivers; RLHFC_REQUIRE_WEBGPU=1 makes this a failure)`);
  }
}

/** Largest |a − b| relative to the largest |b| (1 when b is all zeros). */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  if (a.length !== b.length) return Infinity;
  return d / (s || 1);
}
