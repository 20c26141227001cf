import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/parse.ts';
import type { BinaryExpr, CallExpr, FieldEntry, RefExpr, SettingDecl, StageDecl, TemplateDecl } from '../../grammar/ast.ts';

const ok = (text: string) => {
  const r = parse(text, 't.rlhf');
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.ast;
};
const field = (s: StageDecl | TemplateDecl, key: string) => s.body.entries.find((e) => e.key.name === key) as FieldEntry;

describe('parser', () => {
  it('parses every example without diagnostics', () => {
    for (const f of ['seed', 'dpo', 'rlaif', 'templates', 'lib/recipes']) {
      const path = `examples/${f}.rlhf`;
      expect(parse(readFileSync(path, 'utf8'), path).diagnostics).toEqual([]);
    }
  });

  it('builds declarations with names, sources and spans', () => {
    const ast = ok('import "lib/a.rlhf"\nseed = 42\ndataset d = corpus("sotu") { split { validation: 0.05, seed: 1 } }\nmodel m = gpt { layers: 2 }\n');
    expect(ast.imports[0].path.value).toBe('lib/a.rlhf');
    expect(ast.decls.map((d) => d.kind)).toEqual(['setting', 'dataset', 'model']);
    const d = ast.decls[1];
    expect(d.kind === 'dataset' && d.source.kind === 'call' && d.source.callee.name).toBe('corpus');
    expect(d.span.start).toEqual({ line: 3, col: 1, offset: 30 });
    const m = ast.decls[2];
    expect(m.kind === 'model' && m.source.kind === 'ref' && m.source.path[0].name).toBe('gpt');
    expect(m.kind === 'model' && m.name.span.start.col).toBe(7);
  });

  it('accepts keywords as keys and after dots; literals of every kind', () => {
    const ast = ok(
      'stage s: sft { model: base.model, tokenizer: t dataset: x template: "a\\n{prompt}\\u{1F600}" on: true off: false lr: 1.41e-5 n: 64 f: .5 big: 3E4 xs: [1, 2.0, "x",] }',
    );
    const s = ast.decls[0] as StageDecl;
    expect(s.body.entries.map((e) => e.key.name)).toEqual(['model', 'tokenizer', 'dataset', 'template', 'on', 'off', 'lr', 'n', 'f', 'big', 'xs']);
    expect((field(s, 'model').value as RefExpr).path.map((p) => p.name)).toEqual(['base', 'model']);
    expect(field(s, 'template').value).toMatchObject({ kind: 'string', value: 'a\n{prompt}😀' });
    expect(field(s, 'lr').value).toMatchObject({ kind: 'number', value: 1.41e-5, isInt: false });
    expect(field(s, 'n').value).toMatchObject({ kind: 'number', value: 64, isInt: true });
    expect(field(s, 'f').value).toMatchObject({ value: 0.5, isInt: false });
    expect(field(s, 'big').value).toMatchObject({ value: 30000, isInt: false });
    expect(field(s, 'xs').value).toMatchObject({ kind: 'list', items: [{ value: 1 }, { value: 2 }, { value: 'x' }] });
  });

  it('respects arithmetic precedence and unary minus', () => {
    const t = ok('template t(r = 8, lr): sft { alpha: 2 * r + 1  beta: -(r - 2) / 4  g: -1 + 2 }').decls[0] as TemplateDecl;
    expect(t.params.map((p) => [p.name.name, p.default?.kind])).toEqual([
      ['r', 'number'],
      ['lr', undefined],
    ]);
    const a = field(t, 'alpha').value as BinaryExpr;
    expect(a.op).toBe('+');
    expect((a.left as BinaryExpr).op).toBe('*');
    const b = field(t, 'beta').value as BinaryExpr;
    expect(b.op).toBe('/');
    expect(b.left.kind).toBe('unary');
    expect(field(t, 'g').value).toMatchObject({ kind: 'binary', op: '+', left: { kind: 'unary' } });
    // the operand of a unary minus is the value written (it once parsed as 0: every -1 became -0)
    expect(field(t, 'g').value).toMatchObject({ left: { kind: 'unary', operand: { kind: 'number', value: 1 } } });
    expect(field(t, 'beta').value).toMatchObject({ left: { kind: 'unary', operand: { kind: 'binary', op: '-' } } });
    const neg = ok('s = [-1, -2.5, --3]').decls[0] as SettingDecl;
    expect(neg.value).toMatchObject({ kind: 'list', items: [{ operand: { value: 1 } }, { operand: { value: 2.5 } }, { operand: { operand: { value: 3 } } }] });
  });

  it('parses calls with named arguments, template uses and nested blocks', () => {
    const ast = ok('stage c: lora_sft(r: 16, 3) { judge: fn("./h.ts#p")  lora { r: 4 } }');
    const s = ast.decls[0] as StageDecl;
    expect(s.base.name).toBe('lora_sft');
    expect(s.args?.map((a) => a.name?.name)).toEqual(['r', undefined]);
    expect((field(s, 'judge').value as CallExpr).callee.name).toBe('fn');
    expect(s.body.entries[1]).toMatchObject({ kind: 'block', key: { name: 'lora' } });
    expect(ok('stage c: sft {}').decls[0]).toMatchObject({ kind: 'stage', args: undefined });
  });

  it('reports several syntax errors in one run, each with its position', () => {
    const text = 'dataset x = corpus("sotu" { kind: text }\nstage a: sft {\n  lr = 3\n  y: @ 1\n  s: "abc\\q"\n}\nstage b: sft { m: [1, 2  }\n';
    const r = parse(text, 'bad.rlhf');
    const at = r.diagnostics.map((d) => `${d.code}@${d.span!.start.line}:${d.span!.start.col}`);
    expect(at).toEqual(expect.arrayContaining(['RLHF1004@1:27', 'RLHF1003@3:6', 'RLHF1001@4:6', 'RLHF1005@5:10', 'RLHF1004@7:26']));
    expect(r.diagnostics.find((d) => d.code === 'RLHF1003')!.message).toContain("expected ':' or '{' after the parameter name, found '='");
  });

  it('reports an unterminated string precisely', () => {
    const r = parse('dataset d = text("a.txt\nseed = 1\n', 'u.rlhf');
    expect(r.diagnostics[0]).toMatchObject({ code: 'RLHF1002', span: { start: { line: 1, col: 18 } } });
  });

  it('points at the end of file for a missing closing brace', () => {
    const r = parse('stage a: sft {\n  model: m\n', 'e.rlhf');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0].message).toContain("expected '}'");
    expect(r.diagnostics[0].message).toContain('end of file');
  });

  it('parses 2,000 stages quickly', () => {
    let big = '';
    for (let i = 0; i < 2000; i++) big += `stage s${i}: lora_sft(r: ${(i % 16) + 1}) {\n  model: base.model\n  data: qa\n  lora { r: 4  alpha: 2 * 4 }\n}\n`;
    parse(big, 'warm.rlhf');
    const t0 = performance.now();
    const r = parse(big, 'big.rlhf');
    const ms = performance.now() - t0;
    expect(r.ast.decls).toHaveLength(2000);
    expect(ms).toBeLessThan(1500); // generous on a loaded CI machine; bench/compile prints the real number
  });
});
