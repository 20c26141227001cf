// examples/your-model.rlhf, the example a user copies to align their own model. In a clean clone its
// folder (examples/HuggingFaceTB/SmolLM2-135M-Instruct) is not there: the spec compiles as a Hub id
// (tests/examples.test.ts) and `rlhfc run` stops with RLHF9004 naming the folder. With a folder made
// by scripts/random-model.py --tiny (the same family and chat format at smoke size), the compiler
// reads its facts (a Llama with a chat template, LoRA targets checked against it) and the spec runs
// end to end — LoRA SFT → DPO → eval — with its steps, prompts and new tokens cut to smoke size.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.ts';
import { renderDiagnostics } from '../core/diagnostics.ts';
import { describeInterop, PYTHON, pyEnv } from './interop/python.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'examples/your-model.rlhf');
const FOLDER = 'HuggingFaceTB/SmolLM2-135M-Instruct';
const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-your-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rlhfc = (cwd: string, args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/rlhfc.mjs'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 300_000 });

it('without its model folder, the example compiles (a Hub id) and `rlhfc run` stops with RLHF9004 naming the folder', () => {
  const dir = join(tmp, 'clean');
  mkdirSync(dir);
  copyFileSync(EXAMPLE, join(dir, 'your-model.rlhf'));
  const c = compileFile(join(dir, 'your-model.rlhf'));
  expect(renderDiagnostics(c.diagnostics, (p) => c.sources.get(p))).toBe('');
  const r = rlhfc(dir, ['run', 'your-model.rlhf']);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('RLHF9004');
  expect(r.stderr).toContain(join(dir, FOLDER));
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}, 120_000);

describeInterop('examples/your-model.rlhf on a random SmolLM2-like folder (scripts/random-model.py --tiny)', () => {
  const dir = join(tmp, 'tiny');
  beforeAll(() => {
    mkdirSync(dir);
    const r = spawnSync(PYTHON, [join(ROOT, 'scripts/random-model.py'), join(dir, FOLDER), '--tiny'], { encoding: 'utf8', env: pyEnv(), timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    // the example's own text, with its steps, prompts and new tokens cut to smoke size
    const smoke = readFileSync(EXAMPLE, 'utf8')
      .replace(/max_steps: \d+/g, 'max_steps: 3')
      .replace(/max_prompts: \d+/g, 'max_prompts: 4')
      .replace(/max_new_tokens: \d+/g, 'max_new_tokens: 4');
    expect(smoke.match(/max_steps: 3/g)).toHaveLength(2);
    writeFileSync(join(dir, 'your-model.rlhf'), smoke);
  }, 300_000);

  it('compiles with the folder: a llama with a chat template, every LoRA target a projection of it', () => {
    const c = compileFile(join(dir, 'your-model.rlhf'));
    expect(renderDiagnostics(c.diagnostics, (p) => c.sources.get(p))).toBe('');
    const model = c.plan!.nodes.find((n) => n.id === 'model:base')!;
    expect(model.params['id']).toBe(`./${FOLDER}`); // the local folder, hashed, not the Hub id
    // the same spec with a GPT-2 target is refused against this folder
    writeFileSync(join(dir, 'bad.rlhf'), readFileSync(join(dir, 'your-model.rlhf'), 'utf8').replace('"q_proj", "k_proj"', '"c_attn", "k_proj"'));
    const bad = compileFile(join(dir, 'bad.rlhf'));
    expect(renderDiagnostics(bad.diagnostics, (p) => bad.sources.get(p))).toMatch(/lora targets "c_attn" is not a projection of the llama model/);
  });

  it('runs LoRA SFT → DPO → eval end to end through the CLI, with time and peak memory per stage', () => {
    const r = rlhfc(dir, ['run', 'your-model.rlhf']);
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    for (const [stage, kind] of [['chat', 'sft'], ['aligned', 'dpo'], ['report', 'eval']]) expect(r.stdout).toMatch(new RegExp(`${stage}\\s+${kind}\\s+ran\\s+[\\d.]+ s\\s+\\d+ MB`));
    expect(r.stderr).toMatch(/chat: .*LoRA r=8 α=16 on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
    const runs = join(dir, '.rlhfc', 'runs');
    const rec = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0], 'run.json'), 'utf8')) as { stages: { name: string; peakRssMB?: number }[] };
    expect(rec.stages.map((s) => s.name)).toEqual(['chat', 'aligned', 'report']);
    for (const s of rec.stages) expect(s.peakRssMB).toBeGreaterThan(20);
  }, 300_000);
});
