// An export runs as it is on a machine without a GPU, whatever its mixed precision: `auto` trains in fp32
// there, and bf16 — written into the project (`--mixed-precision bf16`) or forced for one run
// (RLHF_MIXED_PRECISION=bf16) — trains with bf16 autocast on the CPU, which Transformers allows only with
// `use_cpu` (without it the first stage stopped with "Your setup doesn't support bf16/gpu").
// Minutes of CPU, so it runs with the smoke suite (npm run test:smoke), not in `npm test`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeSmoke, PYTHON, pyEnv } from './python.ts';
import { compileFile } from '../../compiler/compile.ts';
import { buildTrlProject, clusterOptions, writeTrlProject } from '../../compiler/export/trl/index.ts';
import { readJsonl } from './smoke-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-mp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function exportSeed(dir: string, mixedPrecision: string): void {
  const spec = 'examples/seed.rlhf';
  const r = compileFile(spec);
  const c = clusterOptions(r.plan!, { mixedPrecision, deterministic: true });
  const built = buildTrlProject(r.plan!, { specPath: spec, outDir: dir, sources: r.sources, cluster: c.cluster!, smoke: true });
  writeTrlProject(built, dir);
}

describeSmoke('interop: mixed precision on a machine without a GPU', () => {
  it('seed.rlhf pretrain: auto → fp32, bf16 (written or forced) → bf16 autocast on the CPU', { timeout: 900_000 }, () => {
    const run = (dir: string, args: string[], extra: Record<string, string> = {}) => {
      const p = spawnSync(PYTHON, args, { cwd: dir, env: pyEnv({ RLHF_DETERMINISTIC: '1', PYTHONPATH: dir, ...extra }), encoding: 'utf8', maxBuffer: 1 << 28, timeout: 600_000 });
      expect(p.status, `${args.join(' ')}\n${p.stderr.slice(-3000)}`).toBe(0);
      return p.stdout;
    };
    const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.cuda.is_available())'], { env: pyEnv(), encoding: 'utf8' });
    if (probe.stdout.trim() !== 'False') return; // this test is about machines without a GPU (CI's)
    const auto = join(tmp, 'auto');
    const bf16 = join(tmp, 'bf16');
    exportSeed(auto, 'auto');
    exportSeed(bf16, 'bf16');
    for (const dir of [auto, bf16]) {
      run(dir, ['prepare_data.py']);
      run(dir, ['train_tokenizers.py']);
    }
    // What each stage's TrainingArguments get, as the stage computes them.
    const settings = (dir: string, extra: Record<string, string> = {}, precision = 'common.mixed_precision()') =>
      run(dir, ['-c', `from rlhf_export import common; p = ${precision}; print(p, common.use_cpu(p))`], extra).trim();
    expect(settings(auto)).toBe('no False');
    expect(settings(auto, { RLHF_MIXED_PRECISION: 'bf16' })).toBe('bf16 True');
    expect(settings(bf16, {}, '"bf16"')).toBe('bf16 True');
    const heldOut = (dir: string, out: string) => readJsonl(join(dir, out, 'metrics.jsonl')).filter((x) => typeof x['eval_loss'] === 'number').map((x) => x['eval_loss'] as number);
    const base = ['stages/base.py', '--data', 'data/speeches', '--tokenizer', 'tokenizers/bpe'];
    run(auto, [...base, '--out', 'outputs/fp32']);
    run(auto, [...base, '--out', 'outputs/forced'], { RLHF_MIXED_PRECISION: 'bf16' });
    run(bf16, [...base, '--out', 'outputs/bf16']);
    const fp32 = heldOut(auto, 'outputs/fp32');
    const forced = heldOut(auto, 'outputs/forced');
    const written = heldOut(bf16, 'outputs/bf16');
    expect(fp32.length).toBeGreaterThan(0);
    // The same stage and seed in bf16: the same run (held-out loss within 2%), yet not bit-equal to fp32,
    // so bf16 autocast was really on; forced and written bf16 are the same run.
    expect(forced).toEqual(written);
    expect(forced).not.toEqual(fp32);
    for (let i = 0; i < fp32.length; i++) expect(Math.abs(forced[i] - fp32[i]) / fp32[i]).toBeLessThan(0.02);
  });
});
