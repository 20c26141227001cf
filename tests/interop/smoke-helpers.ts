// Export a spec at smoke scale and run its run.sh with the real libraries on CPU.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { renderDiagnostics } from '../../core/diagnostics.ts';
import { buildTrlProject, clusterOptions, writeTrlProject } from '../../compiler/export/trl/index.ts';
import type { Plan } from '../../core/plan-types.ts';
import { smokePlan } from '../../compiler/export/trl/smoke.ts';
import { pyEnv } from './python.ts';

export function exportSmoke(spec: string, out: string): Plan {
  const r = compileFile(spec);
  expect(r.plan, renderDiagnostics(r.diagnostics, (p) => r.sources.get(p))).toBeDefined();
  // No --mixed-precision: the default (auto) must run as it is on this CPU machine.
  const c = clusterOptions(r.plan!, { gpus: '1', nodes: '1', strategy: 'ddp' });
  const result = buildTrlProject(r.plan!, { specPath: spec, outDir: out, sources: r.sources, cluster: c.cluster!, smoke: true });
  expect(result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  writeTrlProject(result, out);
  return smokePlan(r.plan!); // the parameters the project runs with
}

/**
 * Two CPU processes over gloo: the multi-process path users take on GPUs (torchrun, as for
 * MULTI_GPU). `accelerate launch --cpu` / MULTI_CPU would start a single process; with
 * ACCELERATE_USE_CPU=true the processes of a MULTI_GPU launch use the CPU and gloo instead.
 */
export function cpu2Env(dir: string): Record<string, string> {
  const path = `${dir}/accelerate-cpu2.yaml`;
  writeFileSync(path, "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nmixed_precision: 'no'\nnum_machines: 1\nnum_processes: 2\nmachine_rank: 0\nmain_training_function: main\nrdzv_backend: static\nsame_network: true\nuse_cpu: false\n");
  return { ACCELERATE_CONFIG_FILE: path, ACCELERATE_USE_CPU: 'true' };
}

export interface Ran {
  status: number | null;
  log: string;
  seconds: number;
}

export function runSh(out: string, env: Record<string, string> = {}, timeoutMs = 840_000): Ran {
  const t0 = performance.now();
  const r = spawnSync('bash', ['run.sh'], { cwd: out, encoding: 'utf8', env: pyEnv(env), maxBuffer: 1 << 28, timeout: timeoutMs });
  const log = `${r.stdout}\n${r.stderr}`;
  writeFileSync(join(out, 'run.log'), log);
  return { status: r.status, log, seconds: (performance.now() - t0) / 1000 };
}

/** One step of run.sh run by itself (e.g. under another accelerate config), its output to `outDir`. */
export function runStep(out: string, name: string, outDir: string, env: Record<string, string>): Ran {
  const line = readFileSync(join(out, 'run.sh'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`step ${name} `))!;
  const command = line.split(' ').slice(5).join(' ').replace(`--out outputs/${name}`, `--out ${outDir}`);
  const script = `set -euo pipefail\ncd "${out}"\nexport PYTHONPATH="$PWD"\nLAUNCH=(accelerate launch --config_file "$ACCELERATE_CONFIG_FILE")\n${command}\n`;
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: pyEnv(env), maxBuffer: 1 << 28, timeout: 560_000 });
  return { status: r.status, log: `${r.stdout}\n${r.stderr}`, seconds: (performance.now() - t0) / 1000 };
}

export function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** Every stage finished (.done), wrote its result, and logged only finite numbers. */
export function checkStages(plan: Plan, out: string, except: string[] = []): void {
  for (const n of plan.nodes.filter((x) => x.category === 'stage' && !except.includes(x.name))) {
    const dir = join(out, 'outputs', n.name);
    expect(existsSync(join(dir, '.done')), `${n.name}: .done`).toBe(true);
    if (['pretrain', 'sft', 'reward', 'dpo', 'ppo', 'grpo', 'rloo', 'kto'].includes(n.kind)) {
      expect(existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'adapter_config.json')), `${n.name}: a model folder`).toBe(true);
      const rows = readJsonl(join(dir, 'metrics.jsonl'));
      expect(rows.length, `${n.name}: metrics`).toBeGreaterThan(0);
      const numbers = rows.flatMap((r) => Object.values(r).filter((v): v is number => typeof v === 'number'));
      expect(numbers.length, `${n.name}: numbers logged`).toBeGreaterThan(2);
      for (const v of numbers) expect(Number.isFinite(v), `${n.name}: a metric is ${v}`).toBe(true);
      expect(rows.some((r) => Object.keys(r).some((k) => /loss/.test(k))), `${n.name}: logs a loss`).toBe(true);
    } else if (n.kind === 'eval') {
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
      expect(report.results.length).toBe(Object.keys(n.inputs).filter((k) => k.startsWith('models[')).length);
      for (const r of report.results) expect(Number.isFinite(r.mean_score), `${n.name}: ${r.model}`).toBe(true);
    } else {
      expect(readJsonl(join(dir, 'train.jsonl')).length, `${n.name}: records`).toBeGreaterThan(0);
    }
  }
}
