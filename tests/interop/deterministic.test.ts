// `rlhfc compile --target trl --deterministic`: run.sh turns on deterministic algorithms, and two runs of
// the same stage give the same losses (on CPU: identical; issue 26 asks for the held-out loss within 1%).
// Minutes of CPU, so it runs with the smoke suite (npm run test:smoke), not in `npm test`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeSmoke, PYTHON, pyEnv } from './python.ts';
import { compileFile } from '../../compiler/compile.ts';
import { buildTrlProject, clusterOptions, writeTrlProject } from '../../compiler/export/trl/index.ts';
import { readJsonl } from './smoke-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-determ-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describeSmoke('interop: a --deterministic export gives the same held-out loss twice', () => {
  it('seed.rlhf (smoke scale): pretrain and SFT run twice, same losses', { timeout: 900_000 }, () => {
    const spec = 'examples/seed.rlhf';
    const r = compileFile(spec);
    const c = clusterOptions(r.plan!, { deterministic: true });
    const built = buildTrlProject(r.plan!, { specPath: spec, outDir: tmp, sources: r.sources, cluster: c.cluster!, smoke: true });
    writeTrlProject(built, tmp);
    const runSh = built.files.get('run.sh')!;
    expect(runSh).toContain('export RLHF_DETERMINISTIC=1');
    expect(runSh).toContain('export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}');
    // The settings run.sh exports, as its steps see them.
    const env = pyEnv({ RLHF_DETERMINISTIC: '1', PYTHONPATH: tmp });
    const run = (args: string[]) => {
      const p = spawnSync(PYTHON, args, { cwd: tmp, env, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 600_000 });
      expect(p.status, `${args.join(' ')}\n${p.stderr.slice(-3000)}`).toBe(0);
    };
    const probe = spawnSync(PYTHON, ['-c', 'import os, torch\nfrom rlhf_export import common\nprint(common.deterministic(), torch.are_deterministic_algorithms_enabled(), os.environ["CUBLAS_WORKSPACE_CONFIG"])'], { cwd: tmp, env, encoding: 'utf8' });
    expect(probe.stdout.trim()).toBe('True True :4096:8');
    run(['prepare_data.py']);
    run(['train_tokenizers.py']);
    const losses = (out: string) => {
      const rows = readJsonl(join(tmp, out, 'metrics.jsonl'));
      return { train: rows.filter((x) => typeof x['loss'] === 'number').map((x) => x['loss'] as number), heldOut: rows.filter((x) => typeof x['eval_loss'] === 'number').map((x) => x['eval_loss'] as number) };
    };
    for (const out of ['outputs/base_a', 'outputs/base_b']) run(['stages/base.py', '--data', 'data/speeches', '--tokenizer', 'tokenizers/bpe', '--out', out]);
    for (const out of ['outputs/chat_a', 'outputs/chat_b']) run(['stages/chat.py', '--data', 'data/reviews', '--model', 'outputs/base_a', '--out', out]);
    for (const stage of ['base', 'chat']) {
      const a = losses(`outputs/${stage}_a`);
      const b = losses(`outputs/${stage}_b`);
      expect(a.heldOut.length, stage).toBeGreaterThan(0);
      expect(a.train.length, stage).toBeGreaterThan(0);
      // Within 1% is the bar; on CPU the runs are bit-identical.
      for (let i = 0; i < a.heldOut.length; i++) expect(Math.abs(a.heldOut[i] - b.heldOut[i]) / a.heldOut[i], stage).toBeLessThan(0.01);
      expect(b, stage).toEqual(a);
    }
    expect(readFileSync(join(tmp, 'README.md'), 'utf8')).toContain('mixed precision decided when it runs');
  });
});
