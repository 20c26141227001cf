import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { main } from '../../cli/main.ts';
import type { Plan } from '../../core/plan-types.ts';

const hashes = (p: Plan) => Object.fromEntries(p.nodes.map((n) => [n.id, n.hash]));

function withEdited(edit: (s: string) => string): Plan {
  const dir = mkdtempSync(join(tmpdir(), 'rlhfc-'));
  const text = edit(readFileSync('examples/seed.rlhf', 'utf8'));
  writeFileSync(join(dir, 'seed.rlhf'), text);
  const r = compileFile(join(dir, 'seed.rlhf'));
  expect(r.diagnostics).toEqual([]);
  return r.plan!;
}

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('plan hashes', () => {
  it('are deterministic', () => {
    const a = compileFile('examples/seed.rlhf').plan!;
    const b = compileFile('examples/seed.rlhf').plan!;
    expect(hashes(a)).toEqual(hashes(b));
    expect(a.nodes.every((n) => /^[0-9a-f]{64}$/.test(n.hash))).toBe(true);
  });

  it('change for an edited SFT parameter and its dependants only', () => {
    const before = hashes(withEdited((s) => s));
    const after = hashes(withEdited((s) => s.replace('lora { r: 8  alpha: 16  targets', 'lora { r: 4  alpha: 16  targets')));
    const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
    expect(changed.sort()).toEqual(['stage:chat', 'stage:report', 'stage:rl']);
  });

  it('do not depend on where the spec lives or on parameter order', () => {
    const moved = hashes(withEdited((s) => s));
    const reordered = hashes(
      withEdited((s) => {
        const t = s.replace('block_size: 64  max_steps: 1000  batch_size: 16', 'batch_size: 16  max_steps: 1000  block_size: 64');
        expect(t).not.toBe(s); // the edit applies
        return t;
      }),
    );
    expect(reordered).toEqual(moved);
  });

  it('change everywhere with the seed', () => {
    const a = hashes(withEdited((s) => s));
    const b = hashes(withEdited((s) => s.replace('seed = 42', 'seed = 43')));
    expect(Object.keys(a).every((k) => a[k] !== b[k])).toBe(true);
  });

  it('follow the content of local data files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-'));
    cpSync('tests/cases/data', join(dir, 'data'), { recursive: true });
    cpSync('tests/cases/ok_local_files.rlhf', join(dir, 'spec.rlhf'));
    const a = hashes(compileFile(join(dir, 'spec.rlhf')).plan!);
    writeFileSync(join(dir, 'data/qa.jsonl'), '{"question": "Q?", "answer": "A."}\n');
    const b = hashes(compileFile(join(dir, 'spec.rlhf')).plan!);
    expect(a['dataset:qa']).not.toBe(b['dataset:qa']);
    expect(a['stage:s']).not.toBe(b['stage:s']);
    expect(a['stage:p']).toBe(b['stage:p']);
  });
});

describe('plan', () => {
  it('orders dependencies first and restricts to one stage with --stage', () => {
    const p = compileFile('examples/rlaif.rlhf', { stage: 'rm' }).plan!;
    const stages = p.nodes.filter((n) => n.category === 'stage').map((n) => n.name);
    expect(stages).toEqual(['base', 'chat', 'labels', 'rm']);
    const pos = new Map(p.nodes.map((n, i) => [n.id, i]));
    for (const n of p.nodes) for (const b of Object.values(n.inputs)) expect(pos.get(b.node)!).toBeLessThan(pos.get(n.id)!);
  });

  it('marks defaults and resolves template arithmetic', () => {
    const p = compileFile('examples/templates.rlhf').plan!;
    const chat = p.nodes.find((n) => n.id === 'stage:chat_r16')!;
    expect(chat.templates).toEqual(['lora_sft']);
    expect(chat.params['lora']).toMatchObject({ r: 16, alpha: 32 });
    expect(chat.params['optimizer']).toMatchObject({ lr: 5e-4, schedule: 'linear' });
    expect(chat.defaults).toContain('packing');
    expect(chat.defaults).not.toContain('lora.r');
  });

  it('json output is versioned, uses stable ids and has no absolute paths', async () => {
    const { code, out } = await cli('compile', 'examples/seed.rlhf', '--format', 'json');
    expect(code).toBe(0);
    const plan = JSON.parse(out) as Plan;
    expect(plan.format).toBe('rlhfc-plan');
    expect(plan.version).toBe(1);
    expect(plan.nodes.map((n) => n.id)).toContain('stage:rl');
    expect(out).not.toContain(process.cwd());
    expect(out).not.toMatch(/"\/(root|home|tmp|work)\//);
  });
});

describe('CLI', () => {
  it('exit codes: 0 ok, 1 spec errors, 2 usage', async () => {
    expect((await cli('check', 'examples/seed.rlhf')).code).toBe(0);
    const bad = await cli('check', 'tests/cases/unknown_name.rlhf');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("tests/cases/unknown_name.rlhf:8:44: error RLHF2003: unknown name 'reveiws'; did you mean 'reviews'?");
    expect(bad.err).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
    expect((await cli('compile', 'examples/seed.rlhf', '--format', 'yaml')).code).toBe(2);
    expect((await cli('compil', 'examples/seed.rlhf')).code).toBe(2);
    expect((await cli('check', 'no/such/file.rlhf')).code).toBe(2);
    expect((await cli('compile', 'examples/seed.rlhf', '--stage', 'nope')).code).toBe(2);
    expect((await cli('check')).code).toBe(2);
  });

  it('prints help for the program and for each command', async () => {
    const h = await cli('--help');
    expect(h.code).toBe(0);
    for (const c of ['check', 'compile', 'run', 'report']) expect(h.out).toContain(c);
    const hc = await cli('compile', '--help');
    expect(hc.code).toBe(0);
    expect(hc.out).toContain('--format');
  });

  it('prints a dot graph with one edge per input', async () => {
    const { out } = await cli('compile', 'examples/dpo.rlhf', '--format', 'dot');
    const plan = compileFile('examples/dpo.rlhf').plan!;
    const edges = plan.nodes.reduce((s, n) => s + Object.keys(n.inputs).length, 0);
    expect(out.match(/->/g)?.length).toBe(edges);
    expect(out.startsWith('digraph plan {')).toBe(true);
  });
});
