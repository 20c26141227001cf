// Every example, exported with --smoke, runs end to end with the real torch / Transformers / TRL /
// PEFT / Accelerate on CPU: every stage finishes, writes its result and logs finite metrics; a
// second run.sh skips every finished step.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeSmoke, PYTHON, pyEnv } from './python.ts';
import { checkStages, exportSmoke, runSh } from './smoke-helpers.ts';
import { compileFile } from '../../compiler/compile.ts';
import { buildTrlProject, clusterOptions } from '../../compiler/export/trl/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-smoke-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const examples = readdirSync('examples').filter((f) => f.endsWith('.rlhf')).sort();

function refusals(spec: string): string[] {
  const r = compileFile(spec);
  if (!r.plan) return [];
  const c = clusterOptions(r.plan, { mixedPrecision: 'no', gpus: '1', nodes: '1', strategy: 'ddp' });
  const built = buildTrlProject(r.plan, { specPath: spec, outDir: tmp, sources: r.sources, cluster: c.cluster!, smoke: true });
  return built.diagnostics.filter((d) => d.severity === 'error' && (d.code === 'RLHF5004' || d.code === 'RLHF5002')).map((d) => `${d.code} ${d.message}`);
}

/**
 * The spec to export for an example. One that names a Hub model by id (examples/your-model.rlhf) would
 * download it; unless its folder is already beside it, a copy runs beside a tiny random folder of
 * the same family and chat format made by scripts/random-model.py --tiny, under the same name.
 */
function specOf(e: string): string {
  const hub = /hf\("([\w.-]+\/[\w.-]+)"\)/.exec(readFileSync(join('examples', e), 'utf8'))?.[1];
  if (!hub || existsSync(join('examples', hub, 'config.json'))) return join('examples', e);
  const dir = join(tmp, `${e.replace('.rlhf', '')}-spec`);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync(PYTHON, ['scripts/random-model.py', join(dir, hub), '--tiny'], { encoding: 'utf8', env: pyEnv() });
  expect(r.status, r.stderr).toBe(0);
  copyFileSync(join('examples', e), join(dir, e));
  return join(dir, e);
}

describeSmoke('interop: every example runs at smoke scale with the real libraries', () => {
  process.env['RLHF_TSX_FROM'] = process.cwd(); // fn() rewards (examples/verifiable.rlhf): tsx from this checkout's node_modules
  for (const e of examples) {
    it(e, { timeout: 900_000 }, (ctx) => {
      const out = join(tmp, e.replace('.rlhf', ''));
      // An example the trl target refuses (a stage kind it cannot export yet, a user TypeScript judge) has nothing to run;
      // tests/compiler/export/trl.test.ts checks that it is refused for these reasons only.
      const spec = specOf(e);
      const refused = refusals(spec);
      if (refused.length) {
        process.stderr.write(`smoke ${e}: skipped, the trl target refuses it: ${refused.join('; ')}\n`);
        return ctx.skip();
      }
      const plan = exportSmoke(spec, out);
      const first = runSh(out);
      process.stderr.write(`smoke ${e}: run.sh ${first.seconds.toFixed(0)} s\n`);
      // vader() included: the export ships its own port (rlhf_export/judges.py), no package needed.
      expect(first.status, first.log.slice(-3000)).toBe(0);
      checkStages(plan, out);
      const second = runSh(out);
      const skipped = [...second.log.matchAll(/^== (\S+): finished, skipping/gm)].map((m) => m[1]);
      const stages = plan.nodes.filter((n) => n.category === 'stage').map((n) => n.name);
      expect(skipped).toEqual(['data', 'tokenizers', ...stages].filter((s) => s !== 'tokenizers' || plan.nodes.some((n) => n.category === 'tokenizer' && n.kind !== 'gpt2')));
      expect(second.seconds).toBeLessThan(first.seconds);
    });
  }
});
