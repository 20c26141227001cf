// `rlhfc fmt` (tools/format.ts): canonical layout, idempotent, comments kept, plan hashes unchanged,
// every example formatted, --check and syntax errors through the CLI.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { compileFile } from '../../compiler/compile.ts';
import { formatText, specFiles } from '../../tools/format.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-fmt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

function fmt(text: string): string {
  const r = formatText(text, 'x.rlhf');
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.text;
}

const comments = (s: string) => (s.match(/(#|\/\/)[^\n]*/g) ?? []).map((c) => c.trimEnd());

describe('rlhfc fmt: layout', () => {
  it('lays out a messy file canonically and keeps every comment', () => {
    const messy = [
      '   # header comment   ',
      'import "a.rlhf"',
      'seed=42 artifacts = ".rlhf"',
      '',
      '',
      '',
      'dataset d = corpus( "sotu" ){split{validation:0.05},limit:10}   # trailing',
      'dataset longer_name=corpus("sentiment")',
      '{ kind : pairs }',
      'template t(r=8 lr = 1e-3,): sft { lora { r: r alpha: 2*r } optimizer{lr:lr}',
      '  epochs : -1 + -r',
      '}',
      'stage s : t( r : 4 , ) {',
      '  model : x.model ,data: d # after data',
      '',
      '',
      '  # own line',
      '',
      '  lora {',
      '',
      '     r: 4,',
      '     targets: ["a" "b",',
      '       "c"]',
      '  } epochs: (1+2)*3 }',
      'stage e: eval { models: [a.model,',
      '  b.model] }',
      '// slash comment at end',
      '',
    ].join('\n');
    const want = [
      '# header comment',
      'import "a.rlhf"',
      'seed      = 42',
      'artifacts = ".rlhf"',
      '',
      'dataset d           = corpus("sotu") { split { validation: 0.05 }  limit: 10 }  # trailing',
      'dataset longer_name = corpus("sentiment") { kind: pairs }',
      '',
      'template t(r = 8, lr = 1e-3): sft {',
      '  lora { r: r  alpha: 2 * r }  optimizer { lr: lr }',
      '  epochs: -1 + -r',
      '}',
      '',
      'stage s: t(r: 4) {',
      '  model: x.model  data: d  # after data',
      '',
      '  # own line',
      '',
      '  lora {',
      '    r: 4',
      '    targets: ["a", "b",',
      '      "c"]',
      '  }',
      '  epochs: (1 + 2) * 3',
      '}',
      '',
      'stage e: eval {',
      '  models: [a.model,',
      '    b.model]',
      '}',
      '// slash comment at end',
      '',
    ].join('\n');
    const got = fmt(messy);
    expect(got).toBe(want);
    expect(comments(got)).toEqual(comments(messy).map((c) => c.trim()));
    expect(fmt(got)).toBe(got);
  });

  it('aligns runs of one-field lines and of one-line declarations, broken by blank lines and other kinds', () => {
    const src = 'model m = gpt\ndataset a = corpus("sotu")\ndataset bbb = corpus("sotu")\n\ndataset cc = corpus("sotu")\nstage x: sft {\n  lr: 1\n  max_seq_length: 2\n  lora { r: 1 }\n  b: 3\n}\n';
    expect(fmt(src)).toBe(
      'model m = gpt\ndataset a   = corpus("sotu")\ndataset bbb = corpus("sotu")\n\ndataset cc = corpus("sotu")\n\nstage x: sft {\n  lr:             1\n  max_seq_length: 2\n  lora { r: 1 }\n  b: 3\n}\n',
    );
  });

  it('keeps a one-line block on one line and breaks a block that spans lines', () => {
    expect(fmt('stage a: sft { model: m  data: d }\n')).toBe('stage a: sft { model: m  data: d }\n');
    expect(fmt('stage a: sft { model: m\n data: d }\n')).toBe('stage a: sft {\n  model: m\n  data:  d\n}\n');
    expect(fmt('stage a: sft { model: m  lora { r: 8\n alpha: 16 } }\n')).toBe('stage a: sft {\n  model: m\n  lora {\n    r:     8\n    alpha: 16\n  }\n}\n');
  });

  it('refuses a file with syntax errors and returns the parser diagnostics', () => {
    const r = formatText('stage x: sft { a: }\n', 'bad.rlhf');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics.map((d) => d.code)).toEqual(['RLHF1003']);
  });

  it('formats an empty file to nothing and a comment-only file to its comments', () => {
    expect(fmt('')).toBe('');
    expect(fmt('\n\n  # only a comment  \n\n')).toBe('# only a comment\n');
  });
});

describe('rlhfc fmt: examples and test cases', () => {
  const examples = specFiles(['examples']).files;
  const cases = specFiles(['tests/cases']).files;

  it('every example is formatted', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const unformatted = examples.filter((f) => {
      const r = formatText(readFileSync(f, 'utf8'), f);
      return !r.ok || r.changed;
    });
    expect(unformatted).toEqual([]);
  });

  it('formatting is idempotent and keeps every plan hash and every diagnostic of examples and test cases', () => {
    // Copy the folders (local data files and imports keep their relative paths), format the copies, compile both.
    for (const d of ['examples', 'tests/cases']) cpSync(d, join(tmp, d), { recursive: true, filter: (s) => !s.includes('/.rlhf') });
    let compiled = 0;
    let formatted = 0;
    for (const f of [...examples, ...cases]) {
      const text = readFileSync(f, 'utf8');
      const once = formatText(text, f);
      if (!once.ok) {
        expect(once.diagnostics.length, f).toBeGreaterThan(0); // syntax-error cases are refused
        continue;
      }
      formatted++;
      const twice = formatText(once.text, f);
      expect(twice.ok && twice.text, `${f}: fmt(fmt(x)) == fmt(x)`).toBe(once.text);
      expect(comments(once.text), f).toEqual(comments(text).map((c) => c.trim()));
      writeFileSync(join(tmp, f), once.text);
    }
    const cwd = process.cwd();
    for (const f of [...examples, ...cases].filter((f) => !f.includes('/lib/'))) {
      const before = compileFile(f);
      process.chdir(tmp);
      let after: ReturnType<typeof compileFile>;
      try {
        after = compileFile(relative(tmp, join(tmp, f)));
      } finally {
        process.chdir(cwd);
      }
      const codes = (r: typeof before) => r.diagnostics.map((d) => `${d.code} ${d.message}`);
      expect(codes(after), f).toEqual(codes(before));
      expect(after.plan?.nodes.map((n) => `${n.id} ${n.hash}`), f).toEqual(before.plan?.nodes.map((n) => `${n.id} ${n.hash}`));
      if (before.plan) compiled++;
    }
    expect(formatted).toBeGreaterThan(40);
    expect(compiled).toBeGreaterThanOrEqual(10);
  });
});

describe('rlhfc fmt: command', () => {
  it('--check lists the files that would change and exits 1; fmt rewrites them; then --check passes', async () => {
    const dir = join(tmp, 'cmd');
    cpSync('examples', dir, { recursive: true });
    const messy = join(dir, 'messy.rlhf');
    writeFileSync(messy, 'seed=1\nmodel m=gpt{layers:2}\n');
    const check = await cli(['fmt', dir, '--check']);
    expect(check.code).toBe(1);
    expect(check.out).toBe(`${messy}\n`);
    expect(check.err).toContain('1 file not formatted');
    expect(readFileSync(messy, 'utf8')).toBe('seed=1\nmodel m=gpt{layers:2}\n');
    const write = await cli(['fmt', dir]);
    expect(write.code).toBe(0);
    expect(write.out).toBe(`${messy}\n`);
    expect(readFileSync(messy, 'utf8')).toBe('seed = 1\nmodel m = gpt { layers: 2 }\n');
    expect(await cli(['fmt', dir, '--check'])).toEqual({ code: 0, out: '', err: '' });
  });

  it('refuses a file with syntax errors with the normal diagnostics (exit 1) and leaves it unchanged', async () => {
    const bad = join(tmp, 'bad.rlhf');
    writeFileSync(bad, 'stage x: sft { a: }\n');
    const r = await cli(['fmt', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:1:19: error RLHF1003: expected a value`);
    expect(r.err).toContain('not formatted (syntax errors)');
    expect(readFileSync(bad, 'utf8')).toBe('stage x: sft { a: }\n');
    expect((await cli(['fmt', join(tmp, 'nope.rlhf')])).code).toBe(2);
  });
});
