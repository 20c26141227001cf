// Every stage kind end to end through `rlhfc run --backend webgpu` (lavapipe in CI), against the same
// plan run with --backend cpu: each stage's metrics agree within 2e-3 relative (1e-3 absolute near
// zero) — sampling draws the same tokens from logits that agree to about 1e-6, so trajectories match.
// Timing metrics (seconds, tokens/s) are left out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { ArtifactStore } from '../../runtime/store.ts';
import { runWebGPU, skipLine } from './available.ts';

skipLine('webgpu pipeline');

const SPEC = 'tests/webgpu/tiny.rlhf';
const TIMING = /seconds|per_s|time/;

function run(backend: string): { store: string; stderr: string; status: number | null } {
  const store = mkdtempSync(join(tmpdir(), `rlhfc-webgpu-${backend}-`));
  const r = spawnSync(process.execPath, ['bin/rlhfc.mjs', 'run', SPEC, '--backend', backend, '--store', store], { encoding: 'utf8', timeout: 900_000 });
  return { store, stderr: r.stderr, status: r.status };
}

describe.skipIf(!runWebGPU)('a small pipeline with --backend webgpu', () => {
  it('runs every stage kind and matches the cpu backend stage by stage', { timeout: 1_200_000 }, () => {
    const plan = compileFile(SPEC).plan!;
    const kinds = new Set(plan.nodes.filter((n) => n.id.startsWith('stage:')).map((n) => n.kind));
    for (const k of ['pretrain', 'sft', 'reward', 'ppo', 'dpo', 'kto', 'grpo', 'rloo', 'judge', 'generate', 'eval']) expect(kinds.has(k), k).toBe(true);
    const cpu = run('cpu');
    expect(cpu.status, cpu.stderr).toBe(0);
    const gpu = run('webgpu');
    expect(gpu.status, gpu.stderr).toBe(0);
    expect(gpu.stderr).toMatch(/^backend: webgpu \(.+\)$/m);
    const stages = plan.nodes.filter((n) => n.id.startsWith('stage:'));
    for (const node of stages) {
      const a = new ArtifactStore(cpu.store).record(node.hash)?.metrics as Record<string, unknown> | undefined;
      const b = new ArtifactStore(gpu.store).record(node.hash)?.metrics as Record<string, unknown> | undefined;
      expect(a, `${node.id} on cpu`).toBeDefined();
      expect(b, `${node.id} on webgpu`).toBeDefined();
      const keys = Object.keys(a!).filter((k) => typeof a![k] === 'number' && !TIMING.test(k));
      expect(keys.length, node.id).toBeGreaterThan(0);
      for (const k of keys) {
        const x = a![k] as number;
        const y = b![k] as number;
        expect(Math.abs(y - x), `${node.id} ${k}: cpu ${x}, webgpu ${y}`).toBeLessThanOrEqual(Math.max(1e-3, 2e-3 * Math.abs(x)));
      }
    }
  });
});
